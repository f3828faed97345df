"""Run every asset for a range of days through Dagster, recording the runs in DAGSTER_HOME.

`dagster asset materialize --select '*'` refuses a selection that mixes partitions definitions, so this
runner splits the asset graph, in dependency order, into stages of daily-partitioned assets (run once per
day, oldest first, as `daily_pipeline`) and unpartitioned assets (run once, as `model_training`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg

DAILY_JOB = "daily_pipeline"
UNPARTITIONED_JOB = "model_training"


@dataclass(frozen=True)
class Stage:
    daily: bool
    keys: tuple[dg.AssetKey, ...]


@dataclass
class StepFailure:
    where: str
    what: str


@dataclass
class RunReport:
    runs: list[tuple[str, str, bool, float]] = field(default_factory=list)  # (label, run_id, ok, seconds)
    failures: list[StepFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


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


def _failures(result: dg.ExecuteInProcessResult, label: str) -> list[StepFailure]:
    out = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            err = event.event_specific_data.error
            message = err.message.strip().splitlines()[-1] if err and err.message else "step failed"
            out.append(StepFailure(f"{label} {event.step_key}", message))
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            description = evaluation.description or "failed"
            out.append(
                StepFailure(
                    f"{label} check {evaluation.asset_key.to_user_string()}:{evaluation.check_name}", description
                )
            )
    return out


def run_range(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    days: list[date],
    echo=print,
    log_level: str = "WARNING",
) -> RunReport:
    """Execute every stage; stop at the first day that fails or is blocked by a check.

    Dagster's own event log goes to the console at `log_level` (every event is in DAGSTER_HOME anyway)."""
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    report = RunReport()
    for stage in plan_stages(defs):
        job = defs.resolve_job_def(DAILY_JOB if stage.daily else UNPARTITIONED_JOB)
        for day in days if stage.daily else [None]:
            label = day.isoformat() if day else "unpartitioned"
            started = time.monotonic()
            echo(f"[selflearn] {label}: materializing {len(stage.keys)} assets ({_names(stage.keys)}) ...")
            result = job.execute_in_process(
                run_config=run_config,
                instance=instance,
                partition_key=day.isoformat() if day else None,
                asset_selection=list(stage.keys),
                raise_on_error=False,
                tags={"selflearn/source": "selflearn run"},
            )
            seconds = time.monotonic() - started
            report.runs.append((label, result.run_id, result.success, seconds))
            failures = _failures(result, label)
            if not result.success and not failures:
                failures = [StepFailure(label, "run failed; see the run's logs in the Dagster UI")]
            if failures:
                report.failures.extend(failures)
                echo(f"[selflearn] {label}: FAILED after {seconds:.1f}s (run {result.run_id})")
                for f in failures:
                    echo(f"    {f.where}: {f.what}")
                return report
            echo(f"[selflearn] {label}: ok in {seconds:.1f}s (run {result.run_id})")
    return report


def _names(keys: tuple[dg.AssetKey, ...], limit: int = 6) -> str:
    names = [k.to_user_string() for k in keys]
    return ", ".join(names[:limit]) + (f", +{len(names) - limit} more" if len(names) > limit else "")
