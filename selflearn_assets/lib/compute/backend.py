"""Where the heavy stages run: in this process, or on Ray (a local instance, or an existing cluster).

| variable                 | default          | meaning                                                       |
|--------------------------|------------------|---------------------------------------------------------------|
| SELFLEARN_RAY            | on               | `off`: everything runs in this process, Ray is never started  |
| SELFLEARN_RAY_ADDRESS    | unset            | connect to this cluster (`host:port`, `ray://host:10001`);     |
|                          |                  | unset: start Ray locally with `SELFLEARN_RAY_CPUS` cores       |
| SELFLEARN_RAY_CPUS       | this machine's   | CPUs of the local Ray instance                                |
| SELFLEARN_RAY_MIN_TEXTS  | 50000            | encode on Ray only when at least this many new texts          |
| SELFLEARN_RAY_MIN_STATES | 2000000          | Markov solve on Ray only when at least this many live states  |

Ray starts (or connects) the first time a job crosses its threshold, once per process, quietly: no dashboard,
workers' logs stay in Ray's session folder instead of the caller's output; it shuts down when the process
exits. A local start never attaches to another Ray instance on the machine (`address="local"`).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MODE_ENV = "SELFLEARN_RAY"
ADDRESS_ENV = "SELFLEARN_RAY_ADDRESS"
CPUS_ENV = "SELFLEARN_RAY_CPUS"
MIN_TEXTS_ENV = "SELFLEARN_RAY_MIN_TEXTS"
MIN_STATES_ENV = "SELFLEARN_RAY_MIN_STATES"
# Break-even points measured on a 2-core machine (bench/encoder_ray.py, README "Compute: Ray").
DEFAULT_MIN_TEXTS = 50_000
DEFAULT_MIN_STATES = 2_000_000
_OFF, _ON = ("off", "0", "false", "no"), ("on", "1", "true", "yes", "")
_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"


@dataclass(frozen=True)
class ComputeConfig:
    """Which backend runs the heavy stages, and from what job size Ray is worth its overhead."""

    ray: bool = True  # False: the in-process path, always
    address: str | None = None  # an existing cluster; None: a local Ray instance
    num_cpus: int | None = None  # local instance only; None: os.cpu_count()
    min_texts: int = DEFAULT_MIN_TEXTS
    min_states: int = DEFAULT_MIN_STATES

    def __post_init__(self) -> None:
        for name in ("min_texts", "min_states"):
            if getattr(self, name) < 1:
                raise ValueError(f"ComputeConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ValueError(f"ComputeConfig.num_cpus must be >= 1, got {self.num_cpus}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ComputeConfig:
        """The SELFLEARN_RAY* settings; a malformed value raises ValueError naming the variable."""
        env = os.environ if env is None else env
        mode = env.get(MODE_ENV, "").strip().lower()
        if mode not in _OFF + _ON:
            raise ValueError(f"{MODE_ENV}={env[MODE_ENV]!r}: expected 'on' or 'off'")
        return cls(
            ray=mode not in _OFF,
            address=env.get(ADDRESS_ENV, "").strip() or None,
            num_cpus=_positive_int(env, CPUS_ENV, None),
            min_texts=_positive_int(env, MIN_TEXTS_ENV, DEFAULT_MIN_TEXTS),
            min_states=_positive_int(env, MIN_STATES_ENV, DEFAULT_MIN_STATES),
        )

    @property
    def backend(self) -> str:
        """`in_process`, `ray_local` or `ray_cluster`."""
        if not self.ray:
            return "in_process"
        return "ray_cluster" if self.address else "ray_local"

    def runs_on_ray(self, job: str, size: int) -> bool:
        """Whether a job of `size` (texts to `encode`, live states to `solve`) goes to Ray."""
        threshold = {"encode": self.min_texts, "solve": self.min_states}[job]
        return self.ray and size >= threshold


def _positive_int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a whole number") from None
    if value < 1:
        raise ValueError(f"{name}={raw!r}: expected a number >= 1")
    return value


_lock = threading.Lock()
_started: dict[str, object] = {}  # what this module started or connected to: {"address": ..., "backend": ...}
_started_once: list[bool] = []  # the atexit hook is registered


def ray_runtime(config: ComputeConfig):
    """The `ray` module, initialised for `config` once per process. Ray that someone else initialised in this
    process is used as it is; Ray we started for another address is shut down and started for this one."""
    import ray

    with _lock:
        if ray.is_initialized():
            if not _started or _started["address"] == config.address:
                return ray
            ray.shutdown()
            _started.clear()
        os.environ.setdefault(
            "RAY_USAGE_STATS_ENABLED", "0"
        )  # no usage reports to Anyscale, no Prometheus polls
        # Ray warns on every local start that it enabled token authentication (its default, which we keep)
        logging.getLogger(_AUTH_LOGGER).setLevel(logging.ERROR)
        kwargs = dict(
            include_dashboard=False,
            log_to_driver=False,  # workers' output stays in Ray's session logs, not in Dagster's
            logging_level=logging.WARNING,
            namespace="selflearn",
        )
        if config.address:
            logger.info("connecting to the Ray cluster at %s", config.address)
            ray.init(address=config.address, **kwargs)
        else:
            num_cpus = config.num_cpus or os.cpu_count() or 1
            logger.info("starting a local Ray instance with %d CPUs", num_cpus)
            ray.init(address="local", num_cpus=num_cpus, **kwargs)
        _quiet_ray_data()
        if not _started_once:
            atexit.register(shutdown)
            _started_once.append(True)
        _started.update(address=config.address, backend=config.backend)
        return ray


def _quiet_ray_data() -> None:
    """No progress bars or per-dataset execution summaries in the caller's output (we log our own progress);
    Ray Data's log file in the session folder keeps everything. And the scheduling our actor pools want."""
    from ray.data import DataContext

    # importing ray.data installs its logging config: a console handler at INFO on the "ray.data" logger
    for handler in logging.getLogger("ray.data").handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.ERROR)
    context = DataContext.get_current()
    # start the whole actor pool before the first block goes out (else the first actor up takes them all)
    context.wait_for_min_actors_s = 600
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False
    context.enable_auto_log_stats = False
    context.verbose_stats_logs = False


def shutdown() -> None:
    """Disconnect from (or stop the local instance of) the Ray this module started; others' Ray is left alone."""
    with _lock:
        if not _started:
            return
        import ray

        if ray.is_initialized():
            ray.shutdown()
        _started.clear()
