"""Run every asset for a range of days through Dagster, recording the runs in DAGSTER_HOME.

`dagster asset materialize --select '*'` refuses a selection that mixes partitions definitions, so this
runner splits the asset graph, in dependency order, into stages of daily-partitioned assets (run once per
day, oldest first, as `daily_pipeline`) and unpartitioned assets (run once, as `model_training`). It goes
on past a failed step or a failed blocking check, leaving out only what depends on it, and reports all of them
at the end (`RunReport.summary`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg

DAILY_JOB = "daily_pipeline"
UNPARTITIONED_JOB = "model_training"
UNPARTITIONED = "unpartitioned"  # the label of the unpartitioned stage's run


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


def plan_stages(defs: dg.Definitions) -> list[Stage]:
    """Consecutive runs of the topological order with the same partitioning become one stage."""
    graph = defs.resolve_asset_graph()
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


def _outcome(
    result: dg.ExecuteInProcessResult, graph, selection: list[dg.AssetKey], label: str
) -> tuple[list[Failure], list[dg.AssetKey], set[dg.AssetKey]]:
    """(failures, assets Dagster skipped because something upstream failed, assets later stages must not
    build on: not materialized, or behind a failed blocking check)."""
    failures: list[Failure] = []
    blocked_steps = set()  # steps whose STEP_FAILURE only restates their failed blocking check
    blocked_assets = set()
    started = set()
    for event in result.all_events:
        data = event.event_specific_data
        if event.event_type == dg.DagsterEventType.STEP_START:
            started.add(event.step_key)
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            if not data.passed and data.severity == dg.AssetCheckSeverity.ERROR:
                blocked_steps.add(event.step_key)
                blocked_assets.add(data.asset_key)
                what = f"check {data.asset_key.to_user_string()}:{data.check_name}"
                failures.append(Failure(label, what, _first_line(data.description) or "failed"))
    for event in result.all_events:
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
    if not result.success and not failures:
        failures.append(Failure(label, "run", "run failed; see the run's logs in the Dagster UI"))
    skipped = [k for k in selection if graph.get(k).assets_def.node_def.name not in started]
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
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


def _interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Dagster swallows a KeyboardInterrupt when raise_on_error=False: the run just fails (or is canceled)."""
    from dagster._core.events import RunFailureReason
    from dagster._core.execution.plan.objects import ErrorSource

    for event in result.all_events:
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
    defs: dg.Definitions,
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

    Dagster's own event log goes to the console at `log_level` (every event is in DAGSTER_HOME anyway)."""
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    graph = defs.resolve_asset_graph()
    unusable: dict[str, set[dg.AssetKey]] = {}  # per day: assets failed, blocked or not built
    report = RunReport()
    for stage in plan_stages(defs):
        job = defs.resolve_job_def(DAILY_JOB if stage.daily else UNPARTITIONED_JOB)
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
            result = job.execute_in_process(
                run_config=run_config,
                instance=instance,
                partition_key=day.isoformat() if day else None,
                asset_selection=selection,
                raise_on_error=False,
                tags={"selflearn/source": "selflearn run"},
            )
            seconds = time.monotonic() - started
            if _interrupted(result):
                raise KeyboardInterrupt
            failures, skipped, bad = _outcome(result, graph, selection, label)
            unusable[label].update(bad)
            not_run = tuple(k.to_user_string() for k in held + skipped)
            report.runs.append(StageRun(label, result.run_id, seconds, tuple(failures), not_run))
            if not failures:
                echo(f"[selflearn] {label}: ok in {seconds:.1f}s (run {result.run_id})")
                continue
            tail = f"; not run, downstream of a failure: {_names(not_run)}" if not_run else ""
            echo(f"[selflearn] {label}: FAILED after {seconds:.1f}s (run {result.run_id}){tail}")
            for f in failures:
                echo(f"    {f.what}: {f.message}")
            if fail_fast:
                report.stopped_early = True
                return report
    return report


def _names(keys, limit: int = 6) -> str:
    names = [k.to_user_string() if isinstance(k, dg.AssetKey) else k for k in keys]
    return ", ".join(names[:limit]) + (f", +{len(names) - limit} more" if len(names) > limit else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
