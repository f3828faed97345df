"""Run every asset for a range of days through Dagster, recording the runs in DAGSTER_HOME.

`dagster asset materialize --select '*'` refuses a selection that mixes partitions definitions, so this
runner splits the asset graph, in dependency order, into stages of daily-partitioned assets (run once per
day, oldest first, as `daily_pipeline`) and unpartitioned assets (run once, as `model_training`). It goes
on past a failed step or a failed blocking check, leaving out only what depends on it, and reports all of them
at the end (`RunReport.summary`).

The runs belong to the code location of `workspace.yaml` (the checkout's; a wheel installs a copy with the
package: its one location is the module `selflearn_assets.definitions` either way), loaded here as the
webserver's code server loads it: each run records the location's origin (so the UI lists it under its job
and can re-execute it) and is executed in this process, synchronously; no daemon is needed. Each run also
records this process (`recovery.process_tags`), so that a run left behind by a killed `selflearn run` can be
told from a live one and released (`recovery`); a run first waits, saying for whom, while a live run holds a
pool it needs.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from dagster._core.remote_origin import CodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin

from selflearn_assets import recovery
from selflearn_assets.lib.project_files import CHECKOUT_ROOT, find_project_file

DAILY_JOB = "daily_pipeline"
UNPARTITIONED_JOB = "model_training"
UNPARTITIONED = "unpartitioned"  # the label of the unpartitioned stage's run
# the checkout's workspace file, or in a wheel install the copy installed with the package (lib.project_files)
WORKSPACE_YAML = find_project_file("workspace.yaml") or CHECKOUT_ROOT / "workspace.yaml"
SOURCE_TAGS = {"selflearn/source": "selflearn run"}


@dataclass(frozen=True)
class CodeLocation:
    """The one code location of a workspace file, with its definitions loaded in this process."""

    origin: CodeLocationOrigin  # as the workspace file declares it: what the webserver records on its runs
    repository_name: str
    repository: dg.RepositoryDefinition
    recon_repository: ReconstructableRepository  # how a run's process reloads the definitions

    @property
    def asset_graph(self):
        return self.repository.asset_graph

    def reconstructable_job(self, name: str) -> ReconstructableJob:
        return self.recon_repository.get_reconstructable_job(name)

    def remote_job_origin(self, name: str) -> RemoteJobOrigin:
        return RemoteJobOrigin(RemoteRepositoryOrigin(self.origin, self.repository_name), name)


def load_code_location(workspace_yaml: Path = WORKSPACE_YAML) -> CodeLocation:
    """Load the workspace file's code location the way its code server does (`LoadedRepositories`), with the
    same location name, e.g. `selflearn_assets.definitions` for this project's `workspace.yaml`."""
    from dagster._core.origin import get_python_environment_entry_point
    from dagster._core.workspace.load import location_origins_from_yaml_paths
    from dagster._grpc.server import LoadedRepositories

    origins = location_origins_from_yaml_paths([str(workspace_yaml)])
    if len(origins) != 1:
        raise ValueError(f"{workspace_yaml}: expected one code location, found {len(origins)}")
    origin = origins[0]
    target = origin.loadable_target_origin
    # relative to the folder `dagster dev -w workspace.yaml` starts in: the workspace file's, as the README runs it
    working_directory = (workspace_yaml.parent / (target.working_directory or ".")).resolve()
    loaded = LoadedRepositories(
        target._replace(working_directory=str(working_directory)),
        container_image=None,
        entry_point=get_python_environment_entry_point(sys.executable),
        container_context=None,
        # not origin.location_name: the components loader would compare it with the dg project's name (the
        # checkout folder's) and warn once per defs module; only app-managed components use it, and we have none
        code_location_name=None,
    )
    if len(loaded.definitions_by_name) != 1:
        raise ValueError(f"{workspace_yaml}: expected one repository in {origin.location_name}")
    ((name, repository),) = loaded.definitions_by_name.items()
    return CodeLocation(origin, name, repository, loaded.reconstructables_by_name[name])


@dataclass(frozen=True)
class Stage:
    daily: bool
    keys: tuple[dg.AssetKey, ...]


@dataclass(frozen=True)
class Failure:
    """A failed step or a failed blocking (ERROR severity) check of one run."""

    label: str  # the day, or "unpartitioned"
    what: str  # "step <step key>" or "check <asset>:<check>"
    message: str


@dataclass(frozen=True)
class StageRun:
    label: str
    run_id: str | None  # None when everything of the stage was downstream of a failure: no run
    seconds: float
    failures: tuple[Failure, ...] = ()
    not_run: tuple[str, ...] = ()  # assets left out or skipped because something upstream failed


@dataclass
class RunReport:
    runs: list[StageRun] = field(default_factory=list)
    stopped_early: bool = False  # --fail-fast stopped at the first failing run

    @property
    def failures(self) -> list[Failure]:
        return [f for run in self.runs for f in run.failures]

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> list[str]:
        """Every failure and every step that did not run, grouped by day (days in order, then the
        unpartitioned stage)."""
        failed = [run for run in self.runs if run.failures or run.not_run]
        if not failed:
            return []
        checks = sum(f.what.startswith("check ") for f in self.failures)
        steps = len(self.failures) - checks  # a run that failed before any step counts as one
        not_run = sum(len(run.not_run) for run in self.runs)
        lines = [
            f"[selflearn] summary: {_count(steps, 'failed step')}, {_count(checks, 'failed blocking check')}, "
            f"{_count(not_run, 'asset')} not run"
        ]
        labels = sorted({run.label for run in failed}, key=lambda label: (label == UNPARTITIONED, label))
        for label in labels:
            runs = [r for r in failed if r.label == label]
            lines.append(f"  {label}:")
            lines.extend(f"    {f.what}: {f.message}" for run in runs for f in run.failures)
            skipped = [name for run in runs for name in run.not_run]
            if skipped:
                lines.append(f"    not run, downstream of a failure ({len(skipped)}): {', '.join(skipped)}")
        if self.stopped_early:
            lines.append(
                "[selflearn] stopped at the first failure (--fail-fast): later runs were not started"
            )
        return lines


def plan_stages(graph) -> list[Stage]:
    """Consecutive runs of the topological order (of an asset graph) with the same partitioning become one
    stage."""
    stages: list[Stage] = []
    for key in graph.toposorted_asset_keys:
        if key not in graph.materializable_asset_keys:
            continue
        daily = graph.get(key).partitions_def is not None
        if stages and stages[-1].daily == daily:
            stages[-1] = Stage(daily, stages[-1].keys + (key,))
        else:
            stages.append(Stage(daily, (key,)))
    return stages


def days_between(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def partition_bounds(location: CodeLocation) -> tuple[date, date]:
    """The first and the last day of the daily job's partitions (the last is the last complete UTC day)."""
    partitions = location.repository.get_job(DAILY_JOB).partitions_def
    first, last = partitions.get_first_partition_key(), partitions.get_last_partition_key()
    if first is None or last is None:
        raise ValueError(f"{DAILY_JOB} has no partitions yet (its first day is {partitions.start:%Y-%m-%d})")
    return date.fromisoformat(first), date.fromisoformat(last)


def outside(days: list[date], bounds: tuple[date, date]) -> list[date]:
    """The days that are not partitions (before the first or after the last)."""
    return [d for d in days if not bounds[0] <= d <= bounds[1]]


def describe_days(days: list[date], limit: int = 5) -> str:
    """A list of days, short: the first `limit`, then how many more."""
    text = ", ".join(d.isoformat() for d in days[:limit])
    return text + (f", ... (+{len(days) - limit} more)" if len(days) > limit else "")


def _run_events(instance: dg.DagsterInstance, run_id: str) -> list[dg.DagsterEvent]:
    return [entry.dagster_event for entry in instance.all_logs(run_id) if entry.dagster_event is not None]


def _outcome(
    events: list[dg.DagsterEvent], succeeded: bool, graph, selection: list[dg.AssetKey], label: str
) -> tuple[list[Failure], list[dg.AssetKey], set[dg.AssetKey]]:
    """From a finished run's events: (failures, assets Dagster skipped because something upstream failed,
    assets later stages must not build on: not materialized, or behind a failed blocking check)."""
    failures: list[Failure] = []
    blocked_steps = set()  # steps whose STEP_FAILURE only restates their failed blocking check
    blocked_assets = set()
    started = set()
    for event in events:
        data = event.event_specific_data
        if event.event_type == dg.DagsterEventType.STEP_START:
            started.add(event.step_key)
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            if not data.passed and data.severity == dg.AssetCheckSeverity.ERROR:
                blocked_steps.add(event.step_key)
                blocked_assets.add(data.asset_key)
                what = f"check {data.asset_key.to_user_string()}:{data.check_name}"
                failures.append(Failure(label, what, _first_line(data.description) or "failed"))
    for event in events:
        if event.event_type != dg.DagsterEventType.STEP_FAILURE:
            continue
        data = event.event_specific_data
        if (
            event.step_key in blocked_steps
            and data.error
            and data.error.cls_name == "DagsterAssetCheckFailedError"
        ):
            continue
        failures.append(Failure(label, f"step {event.step_key}", _step_failure_message(data)))
    if not succeeded and not failures:
        failures.append(Failure(label, "run", "run failed; see the run's logs in the Dagster UI"))
    skipped = [k for k in selection if graph.get(k).assets_def.node_def.name not in started]
    materialized = {e.asset_key for e in events if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION}
    return failures, skipped, {k for k in selection if k not in materialized} | blocked_assets


def _downstream(graph, roots: set[dg.AssetKey]) -> set[dg.AssetKey]:
    """Every asset below `roots` (not the roots themselves)."""
    seen: set[dg.AssetKey] = set()
    todo = [child for key in roots for child in graph.get(key).child_keys]
    while todo:
        key = todo.pop()
        if key not in seen:
            seen.add(key)
            todo.extend(graph.get(key).child_keys)
    return seen


def _step_failure_message(data) -> str:
    """A dg.Failure's description, else the innermost exception (the user's, not Dagster's wrapper)."""
    if data.user_failure_data and data.user_failure_data.description:
        return _first_line(data.user_failure_data.description)
    err = data.error
    while err is not None and err.cause is not None:
        err = err.cause
    return (_first_line(err.message) if err else "") or "step failed"


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0].strip() if lines else ""


def _interrupted(events: list[dg.DagsterEvent]) -> bool:
    """Dagster swallows a KeyboardInterrupt when raise_on_error=False: the run just fails (or is canceled)."""
    from dagster._core.events import RunFailureReason
    from dagster._core.execution.plan.objects import ErrorSource

    for event in events:
        data = event.event_specific_data
        if event.event_type == dg.DagsterEventType.RUN_CANCELED:
            return True
        if (
            event.event_type == dg.DagsterEventType.STEP_FAILURE
            and data.error_source == ErrorSource.INTERRUPT
        ):
            return True
        if (
            event.event_type == dg.DagsterEventType.RUN_FAILURE
            and getattr(data, "failure_reason", None) == RunFailureReason.UNEXPECTED_TERMINATION
        ):
            return True
    return False


def run_range(
    location: CodeLocation,
    instance: dg.DagsterInstance,
    days: list[date],
    echo=print,
    log_level: str = "WARNING",
    fail_fast: bool = False,
) -> RunReport:
    """Execute every stage, each day oldest first, and go on past failures.

    Within a run Dagster skips what is downstream of a failed step or a failed blocking check; across runs
    this runner does the same: a later daily stage leaves out, for that day, what is downstream of the
    day's failures, and the unpartitioned stage leaves out what is downstream of any day's failures. A
    failed unpartitioned stage does not hold the daily stages back (they use the models already
    registered, or fail saying which model is missing). Everything else runs, that day and the following
    days. With `fail_fast`, stop after the first run that fails or is blocked. Ctrl-C during a run raises
    KeyboardInterrupt (Dagster records the run as failed).

    Every run is a run of `location`'s job, recorded with the location's origin, and executed in this
    process. Dagster's own event log goes to the console at `log_level` (every event is in DAGSTER_HOME
    anyway)."""
    run_config = {
        "loggers": {"console": {"config": {"log_level": log_level}}},
        # every step in this process, as execute_in_process did: a process per step (the default executor)
        # would load the definitions, torch included, once per step
        "execution": {"config": {"in_process": {}}},
    }
    graph = location.asset_graph
    unusable: dict[str, set[dg.AssetKey]] = {}  # per day: assets failed, blocked or not built
    report = RunReport()
    for stage in plan_stages(graph):
        job_name = DAILY_JOB if stage.daily else UNPARTITIONED_JOB
        for day in days if stage.daily else [None]:
            label = day.isoformat() if day else UNPARTITIONED
            upstream = unusable.get(label, set()) if day else set().union(*unusable.values())
            held = [k for k in stage.keys if k in _downstream(graph, upstream)]
            selection = [k for k in stage.keys if k not in held]
            unusable.setdefault(label, set()).update(held)
            if not selection:
                echo(f"[selflearn] {label}: not running {_names(stage.keys)}: downstream of a failure")
                report.runs.append(
                    StageRun(label, None, 0.0, not_run=tuple(k.to_user_string() for k in held))
                )
                continue
            started = time.monotonic()
            echo(
                f"[selflearn] {label}: materializing {_count(len(selection), 'asset')} ({_names(selection)}) ..."
            )
            pools = sorted(set().union(*(graph.get(k).pools or set() for k in selection)))
            recovery.wait_for_pools(instance, pools, echo)
            run = _execute(location, instance, job_name, selection, day, run_config, pools, echo)
            seconds = time.monotonic() - started
            events = _run_events(instance, run.run_id)
            if _interrupted(events):
                _release_interrupted(instance, run.run_id)
                raise KeyboardInterrupt
            succeeded = instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS
            failures, skipped, bad = _outcome(events, succeeded, graph, selection, label)
            unusable[label].update(bad)
            not_run = tuple(k.to_user_string() for k in held + skipped)
            report.runs.append(StageRun(label, run.run_id, seconds, tuple(failures), not_run))
            if not failures:
                echo(f"[selflearn] {label}: ok in {seconds:.1f}s (run {run.run_id})")
                continue
            tail = f"; not run, downstream of a failure: {_names(not_run)}" if not_run else ""
            echo(f"[selflearn] {label}: FAILED after {seconds:.1f}s (run {run.run_id}){tail}")
            for f in failures:
                echo(f"    {f.what}: {f.message}")
            if fail_fast:
                report.stopped_early = True
                return report
    return report


def _execute(
    location: CodeLocation,
    instance: dg.DagsterInstance,
    job_name: str,
    selection: list[dg.AssetKey],
    day: date | None,
    run_config: dict,
    pools: list[str],
    echo,
) -> dg.DagsterRun:
    """Create the run as the UI does for a launch (the job's tags, the partition's, the location's origin),
    plus this process's, then execute it here, synchronously, watched (`recovery.watch_run`): an interrupt
    cancels it, whatever it was doing, and frees what it held."""
    from dagster._core.execution.api import execute_run
    from dagster._core.execution.execute_in_process import merge_run_tags

    job = location.reconstructable_job(job_name)
    job_def = location.repository.get_job(job_name)
    partition_key = day.isoformat() if day else None
    own_tags = {**SOURCE_TAGS, **recovery.process_tags()}
    tags = merge_run_tags(job_def, partition_key, own_tags, selection, instance, run_config)
    run = instance.create_run_for_job(
        job_def=job_def,
        run_config=run_config,
        tags=tags,
        asset_selection=frozenset(selection),
        remote_job_origin=location.remote_job_origin(job_name),
        job_code_origin=job.get_python_origin(),
        repository_load_data=location.repository.repository_load_data,
    )
    try:
        with recovery.watch_run(instance, run.run_id, pools, echo):
            execute_run(job, run, instance)
    except BaseException:  # Ctrl-C or SIGTERM outside a step's code, or a crash of Dagster's own
        _release_interrupted(instance, run.run_id)
        raise
    return run


def _release_interrupted(instance: dg.DagsterInstance, run_id: str) -> None:
    """An interrupted run: canceled unless Dagster already ended it, its pool slots and MLflow runs freed."""
    recovery.release(instance, run_id, "interrupted", canceled=True)


def _names(keys, limit: int = 6) -> str:
    names = [k.to_user_string() if isinstance(k, dg.AssetKey) else k for k in keys]
    return ", ".join(names[:limit]) + (f", +{len(names) - limit} more" if len(names) > limit else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
