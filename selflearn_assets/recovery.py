"""Crash recovery: a run whose process is gone must never block the next.

`selflearn run` executes its runs in its own process and records that process on each run (tags
`selflearn/pid`, `selflearn/host`, `selflearn/process_started`). A `kill -9` leaves such a run STARTED, holding
its slot of the `duckdb` pool (limit 1), with its MLflow run RUNNING; Dagster's in-process executor then waits
for that slot forever, and does not look at Ctrl-C while it waits. Here:

- `find_dead_runs` / `recover`: the runs whose process is gone (a live process keeps its runs and slots), and
  the finished runs that still hold slots; `release` marks a run FAILED, frees its pool slots and fails its
  RUNNING MLflow runs (tagged `dagster.run_id`). `selflearn run` recovers before it starts;
  `selflearn recover` does it on demand.
- `wait_for_pools`: before a run, wait (interruptibly) while a live run holds the pools it needs, saying who.
- `watch_run`: while a run executes, release a dead holder of a pool the run waits on, say who holds it, and
  turn a Ctrl-C / SIGTERM that Dagster captured but does not act on into a cancellation of the run.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from selflearn_assets.lib import processes
from selflearn_assets.lib.settings import load_settings

PID_TAG = "selflearn/pid"
HOST_TAG = "selflearn/host"
STARTED_TAG = "selflearn/process_started"
MLFLOW_RUN_TAG = "dagster.run_id"  # the tag every model asset puts on its MLflow run (defs/metadata.py)
ACTIVE = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def process_tags() -> dict[str, str]:
    """This process, as tags of the runs it creates and executes."""
    me = processes.current()
    return {PID_TAG: str(me.pid), HOST_TAG: me.host, STARTED_TAG: me.started}


def run_process(run: dg.DagsterRun) -> processes.ProcessId | None:
    """The process that executes `run` (None for a run that `selflearn run` did not start: the UI's, the
    daemon's)."""
    if PID_TAG not in run.tags or HOST_TAG not in run.tags:
        return None
    return processes.ProcessId(int(run.tags[PID_TAG]), run.tags[HOST_TAG], run.tags.get(STARTED_TAG, ""))


@dataclass(frozen=True)
class Slot:
    """A step's place in a pool: claimed (it holds one of the pool's slots) or waiting for one."""

    pool: str
    run_id: str
    step_key: str
    claimed: bool


def pool_slots(instance: dg.DagsterInstance, pools: list[str] | None = None) -> list[Slot]:
    """Every claimed slot and waiting step of `pools` (default: every pool the instance knows)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    keys = storage.get_concurrency_keys() if pools is None else set(pools) & storage.get_concurrency_keys()
    slots = []
    for pool, info in storage.get_concurrency_infos(sorted(keys)).items():
        claimed = {(slot.run_id, slot.step_key) for slot in info.claimed_slots}
        slots.extend(Slot(pool, run_id, step_key, True) for run_id, step_key in sorted(claimed))
        slots.extend(
            Slot(pool, step.run_id, step.step_key, False)
            for step in info.pending_steps
            if (step.run_id, step.step_key) not in claimed
        )
    return slots


@dataclass(frozen=True)
class Recovered:
    """What `release` did (or, in a dry run, would do) for one run."""

    run_id: str
    label: str  # "<job> <partition>"
    status: str  # its status before
    why: str
    slots: tuple[str, ...]  # "pool (step)" it held or waited in
    mlflow_runs: tuple[str, ...] = ()

    def line(self) -> str:
        ended = "" if self.status in _FINISHED else "marked FAILED, "
        held = f"freed {', '.join(self.slots)}" if self.slots else "held no pool slot"
        mlflow = f"; {len(self.mlflow_runs)} MLflow run(s) marked FAILED" if self.mlflow_runs else ""
        return f"recovered run {self.run_id} ({self.label}, {self.status}): {self.why}; {ended}{held}{mlflow}"


_FINISHED = {
    status.value for status in dg.DagsterRunStatus if status not in ACTIVE + [dg.DagsterRunStatus.QUEUED]
}


def _label(run: dg.DagsterRun | None) -> str:
    if run is None:
        return "deleted run"
    partition = run.tags.get("dagster/partition")
    return f"{run.job_name} {partition}" if partition else run.job_name


def _held(instance: dg.DagsterInstance, run_id: str) -> tuple[str, ...]:
    return tuple(f"{s.pool} ({s.step_key})" for s in pool_slots(instance) if s.run_id == run_id)


def why_dead(run: dg.DagsterRun | None, holds_slots: bool) -> str | None:
    """Why nobody executes `run` any more (None while someone may): an unfinished run of `selflearn run`
    whose process is gone, or a finished (or deleted) run that still holds pool slots. A run whose process is
    alive or on another host, and an unfinished run that `selflearn run` did not start (the UI's: terminate
    those in the UI) are left alone."""
    if run is None or run.is_finished:
        status = "deleted" if run is None else run.status.value
        return f"it is {status} but still holds pool slots" if holds_slots else None
    process = run_process(run)
    if process is not None and process.alive() is False:
        return f"its process (pid {process.pid} on {process.host}) is gone"
    return None


def find_dead_runs(instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    """(run id, why) for every run that holds on although nobody executes it (`why_dead`)."""
    holders = {slot.run_id for slot in pool_slots(instance)}
    candidates = {run.run_id: run for run in instance.get_runs(dg.RunsFilter(statuses=ACTIVE))}
    for run_id in holders - set(candidates):
        candidates[run_id] = instance.get_run_by_id(run_id)
    found = [(run_id, why_dead(run, run_id in holders)) for run_id, run in sorted(candidates.items())]
    return [(run_id, why) for run_id, why in found if why]


def release(
    instance: dg.DagsterInstance,
    run_id: str,
    why: str,
    mlflow_home: Path | None = None,
    canceled: bool = False,
) -> Recovered:
    """End run `run_id` unless it has finished (FAILED, or CANCELED when `canceled`), free its pool slots,
    and mark its RUNNING MLflow runs FAILED (store under `mlflow_home`, default SELFLEARN_HOME)."""
    run = instance.get_run_by_id(run_id)
    slots = _held(instance, run_id)
    status = run.status.value if run is not None else "deleted"
    if run is not None and not run.is_finished:
        if canceled:
            instance.report_run_canceled(run, message=f"selflearn: {why}")
        else:
            instance.report_run_failed(run, message=f"selflearn recover: {why}")
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    mlflow_runs = _fail_mlflow_runs(mlflow_home or load_settings().home, run_id)
    return Recovered(run_id, _label(run), status, why, slots, tuple(mlflow_runs))


def _fail_mlflow_runs(home: Path, run_id: str) -> list[str]:
    from selflearn_assets.lib.models import tracking

    if not tracking.store_exists(home):  # no store: nothing to fail
        return []

    return tracking.fail_running_runs(home, MLFLOW_RUN_TAG, run_id)


def recover(
    instance: dg.DagsterInstance, mlflow_home: Path | None = None, dry_run: bool = False
) -> list[Recovered]:
    """Release every dead run (`find_dead_runs`); with `dry_run`, only say what would be released."""
    if not dry_run:
        return [release(instance, run_id, why, mlflow_home) for run_id, why in find_dead_runs(instance)]
    planned = []
    for run_id, why in find_dead_runs(instance):
        run = instance.get_run_by_id(run_id)
        status = run.status.value if run is not None else "deleted"
        planned.append(Recovered(run_id, _label(run), status, why, _held(instance, run_id)))
    return planned


def holder_line(instance: dg.DagsterInstance, slot: Slot) -> str:
    """Who holds a slot, in words: the run, its job and partition, the step, and its process."""
    run = instance.get_run_by_id(slot.run_id)
    if run is None:
        return f"pool {slot.pool} is held by deleted run {slot.run_id} (step {slot.step_key})"
    process = run_process(run)
    where = (
        f"process pid {process.pid} on {process.host}, alive"
        if process
        else "not started by `selflearn run`: see it in the Dagster UI (terminate it there if it is stuck)"
    )
    return (
        f"pool {slot.pool} is held by run {run.run_id} ({_label(run)}, {run.status.value}, step {slot.step_key}; "
        f"{where})"
    )


def _blocking(instance: dg.DagsterInstance, pools: list[str], run_id: str | None) -> list[Slot]:
    """The slots other runs hold in those of `pools` that have no slot left."""
    storage = instance.event_log_storage
    if not pools or not storage.supports_global_concurrency_limits:
        return []
    keys = set(pools) & storage.get_concurrency_keys()
    blocking = []
    for pool, info in storage.get_concurrency_infos(sorted(keys)).items():
        limit = max(info.slot_count, info.limit or 0)
        if info.claimed_slots and len(info.claimed_slots) >= limit:
            blocking.extend(
                Slot(pool, s.run_id, s.step_key, True) for s in info.claimed_slots if s.run_id != run_id
            )
    return blocking


def _release_dead_holders(
    instance: dg.DagsterInstance, holders: list[Slot], echo: Callable[[str], None]
) -> list[Slot]:
    """Release the holders whose run is dead (saying so); returns the live ones."""
    live = []
    for run_id in dict.fromkeys(slot.run_id for slot in holders):
        why = why_dead(instance.get_run_by_id(run_id), holds_slots=True)
        if why is None:
            live.extend(slot for slot in holders if slot.run_id == run_id)
        else:
            echo(f"[selflearn] {release(instance, run_id, why).line()}")
    return live


def wait_for_pools(
    instance: dg.DagsterInstance,
    pools: list[str],
    echo: Callable[[str], None] = print,
    poll_s: float = 1.0,
    report_every_s: float = 60.0,
) -> None:
    """Return once none of `pools` is full; meanwhile release dead holders, and say which live run holds a
    pool (at once, then every `report_every_s`). Ctrl-C raises KeyboardInterrupt here as anywhere."""
    reported = None
    while True:
        live = _release_dead_holders(instance, _blocking(instance, pools, None), echo)
        if not live:
            return
        if reported is None or time.monotonic() - reported >= report_every_s:
            for slot in live:
                echo(f"[selflearn] waiting: {holder_line(instance, slot)}; Ctrl-C to stop")
            reported = time.monotonic()
        time.sleep(poll_s)


@contextmanager
def watch_run(
    instance: dg.DagsterInstance,
    run_id: str,
    pools: list[str],
    echo: Callable[[str], None] = print,
    poll_s: float = 1.0,
    report_after_s: float = 10.0,
    report_every_s: float = 60.0,
) -> Iterator[None]:
    """While the block executes run `run_id` in this (main) thread: release a dead holder of a pool the run
    waits on, say which live run holds it (after `report_after_s`, then every `report_every_s`), and cancel
    the run when an interrupt stays unanswered.

    Dagster's in-process executor captures SIGINT/SIGTERM and acts on them only inside a step's own code;
    while a step waits for a pool slot it loops without looking (at 100% CPU), so Ctrl-C would do nothing.
    An interrupt still captured a second later is such a case: the run is marked canceling and a
    KeyboardInterrupt is raised in the main thread, which Dagster turns into the run's cancellation."""
    from dagster._utils.interrupts import check_captured_interrupt

    stop = threading.Event()
    executing = threading.get_ident()  # the thread that executes the run (Dagster: the main thread)

    def watch() -> None:
        interrupted_since = waiting_since = reported = None
        while not stop.wait(poll_s):
            try:
                if check_captured_interrupt():
                    interrupted_since = interrupted_since or time.monotonic()
                    if time.monotonic() - interrupted_since >= 1.0:
                        run = instance.get_run_by_id(run_id)
                        if run is not None and not run.is_finished:
                            instance.report_run_canceling(run, message="interrupted while waiting")
                        _raise_in_thread(executing, KeyboardInterrupt)
                        return
                else:
                    interrupted_since = None
                waiting = any(s.run_id == run_id and not s.claimed for s in pool_slots(instance, pools))
                if not waiting:
                    waiting_since = None
                    continue
                waiting_since = waiting_since or time.monotonic()
                live = _release_dead_holders(instance, _blocking(instance, pools, run_id), echo)
                now = time.monotonic()
                due = reported is None or now - reported >= report_every_s
                if live and now - waiting_since >= report_after_s and due:
                    for slot in live:
                        echo(f"[selflearn] waiting: {holder_line(instance, slot)}; Ctrl-C to stop")
                    reported = now
            except Exception as err:  # a busy SQLite store, say: try again at the next poll
                echo(f"[selflearn] run watch: {type(err).__name__}: {err}")

    thread = threading.Thread(target=watch, name=f"selflearn-watch-{run_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _raise_in_thread(thread_id: int, exc: type[BaseException]) -> None:
    # CPython's only way to interrupt a thread that never returns to a point where it checks a flag
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc))
