"""`selflearn run` goes on past a failed step or a failed blocking check, leaving out only what depends on
it, and reports them all; `--fail-fast` stops at the first; Ctrl-C exits 130 without a traceback.

A small graph stands in for the project's: a daily stage, an unpartitioned model, then a daily stage again.
"""

from datetime import date

import dagster as dg
import pytest

from selflearn_assets import cli, runner
from selflearn_assets_tests.conftest import write_lines

DAYS = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
BLOCKED_DAY = "2026-11-02"  # gated's blocking check fails
BOOM_DAY = "2026-11-03"  # flaky raises

daily = dg.DailyPartitionsDefinition(start_date="2026-11-01")


@dg.asset(partitions_def=daily)
def gated(context: dg.AssetExecutionContext) -> None:
    """Checked by a blocking check that fails on BLOCKED_DAY."""


@dg.asset_check(asset=gated, blocking=True)
def gated_ok(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    bad = context.partition_key == BLOCKED_DAY if context.has_partition_key else False
    return dg.AssetCheckResult(passed=not bad, description="quarantine_rate 0.29 > 0.05" if bad else None)


@dg.asset(partitions_def=daily)
def flaky(context: dg.AssetExecutionContext) -> None:
    if context.partition_key == BOOM_DAY:
        raise ValueError("disk full\nsecond line")


@dg.asset(partitions_def=daily)
def independent() -> None:
    """Depends on nothing: must materialize every day."""


@dg.asset(group_name="models", deps=[independent])
def model() -> None:
    raise dg.Failure(description="not enough labelled turns in the window")


@dg.asset(partitions_def=daily, deps=[gated])
def after_gate() -> None:
    pass


@dg.asset(partitions_def=daily, deps=[flaky])
def after_flaky() -> None:
    pass


@dg.asset(partitions_def=daily, deps=[model, gated])
def labelled() -> None:
    """Needs the model (which failed): fails with its own message, except where `gated` was blocked."""
    raise dg.Failure(description="no champion model in MLflow; materialize model first")


def _defs(*extra_assets) -> dg.Definitions:
    assets = [gated, flaky, independent, model, after_gate, after_flaky, labelled, *extra_assets]
    return dg.Definitions(
        assets=assets,
        asset_checks=[gated_ok],
        jobs=[
            dg.define_asset_job(
                runner.DAILY_JOB,
                selection=dg.AssetSelection.all() - dg.AssetSelection.groups("models"),
                partitions_def=daily,
            ),
            dg.define_asset_job(runner.UNPARTITIONED_JOB, selection=dg.AssetSelection.groups("models")),
        ],
    )


@pytest.fixture(scope="module")
def went_on():
    """One `run_range` over the three days: (report, progress lines, materialized partitions per asset)."""
    lines: list[str] = []
    with dg.DagsterInstance.ephemeral() as instance:
        report = runner.run_range(_defs(), instance, DAYS, echo=lines.append)
        materialized = {
            name: set(instance.get_materialized_partitions(dg.AssetKey(name)))
            for name in ("gated", "flaky", "independent", "after_gate", "after_flaky", "labelled")
        }
    return report, lines, materialized


def test_stages_put_the_model_between_two_daily_stages():
    stages = [(s.daily, {k.to_user_string() for k in s.keys}) for s in runner.plan_stages(_defs())]
    assert stages == [
        (True, {"gated", "flaky", "independent", "after_gate", "after_flaky"}),
        (False, {"model"}),
        (True, {"labelled"}),
    ]


def test_run_range_goes_on_past_a_blocked_check_and_a_failed_step(went_on):
    report, _, materialized = went_on
    days = {d.isoformat() for d in DAYS}
    assert materialized["independent"] == days
    assert materialized["gated"] == days  # written, then its check failed
    assert materialized["after_gate"] == days - {BLOCKED_DAY}
    assert materialized["flaky"] == materialized["after_flaky"] == days - {BOOM_DAY}
    assert materialized["labelled"] == set()

    assert not report.ok and not report.stopped_early
    assert {(f.label, f.what, f.message) for f in report.failures} == {
        (BLOCKED_DAY, "check gated:gated_ok", "quarantine_rate 0.29 > 0.05"),
        (BOOM_DAY, "step flaky", "ValueError: disk full"),
        ("unpartitioned", "step model", "not enough labelled turns in the window"),
        # the daily stage after the failed model still ran, and said what it lacks
        ("2026-11-01", "step labelled", "no champion model in MLflow; materialize model first"),
        (BOOM_DAY, "step labelled", "no champion model in MLflow; materialize model first"),
    }


def test_what_depends_on_a_failure_is_not_run(went_on):
    """Within a run Dagster skips it; in a later stage's run of the same day the runner leaves it out."""
    report, lines, _ = went_on
    not_run = [(run.label, run.run_id is None, run.not_run) for run in report.runs if run.not_run]
    assert not_run == [
        (BLOCKED_DAY, False, ("after_gate",)),  # skipped by Dagster in the day's first run
        (BOOM_DAY, False, ("after_flaky",)),
        (BLOCKED_DAY, True, ("labelled",)),  # left out: no run at all for that stage and day
    ]
    assert f"[selflearn] {BLOCKED_DAY}: not running labelled: downstream of a failure" in lines


def test_summary_groups_failures_by_day(went_on):
    report, _, _ = went_on
    assert report.summary() == [
        "[selflearn] summary: 4 failed steps, 1 failed blocking check, 3 assets not run",
        "  2026-11-01:",
        "    step labelled: no champion model in MLflow; materialize model first",
        "  2026-11-02:",
        "    check gated:gated_ok: quarantine_rate 0.29 > 0.05",
        "    not run, downstream of a failure (2): after_gate, labelled",
        "  2026-11-03:",
        "    step flaky: ValueError: disk full",
        "    step labelled: no champion model in MLflow; materialize model first",
        "    not run, downstream of a failure (1): after_flaky",
        "  unpartitioned:",
        "    step model: not enough labelled turns in the window",
    ]


def test_fail_fast_stops_at_the_first_failing_day():
    lines: list[str] = []
    with dg.DagsterInstance.ephemeral() as instance:
        report = runner.run_range(_defs(), instance, DAYS, echo=lines.append, fail_fast=True)
        assert set(instance.get_materialized_partitions(dg.AssetKey("independent"))) == {
            "2026-11-01",
            BLOCKED_DAY,
        }
    assert report.stopped_early
    assert [run.label for run in report.runs] == ["2026-11-01", BLOCKED_DAY]
    assert [f.what for f in report.failures] == ["check gated:gated_ok"]
    assert report.summary()[-1].endswith("(--fail-fast): later runs were not started")
    assert any(line.startswith(f"[selflearn] {BLOCKED_DAY}: FAILED") for line in lines)


def test_an_interrupted_run_raises_keyboard_interrupt():
    """Dagster turns a Ctrl-C inside a step into a failed run; the runner must not go on to the next day."""

    @dg.asset(partitions_def=daily)
    def interrupted() -> None:
        raise KeyboardInterrupt

    lines: list[str] = []
    with dg.DagsterInstance.ephemeral() as instance, pytest.raises(KeyboardInterrupt):
        runner.run_range(_defs(interrupted), instance, DAYS, echo=lines.append)
    assert len([line for line in lines if "materializing" in line]) == 1


@pytest.fixture
def small_project(selflearn_home, monkeypatch):
    """`selflearn run` over the small graph: three raw day folders, and `defs()` swapped for `_defs()`."""
    for day in DAYS:
        write_lines(selflearn_home / "raw" / f"date={day.isoformat()}" / "part-0.jsonl", [{"event_id": "e"}])
    monkeypatch.setattr("selflearn_assets.definitions.defs", _defs)
    return selflearn_home


def test_cli_run_summarizes_and_exits_1(small_project, capsys):
    code = cli.main(["run", "--start", BLOCKED_DAY])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines()[-6:] == [
        "[selflearn] summary: 1 failed step, 1 failed blocking check, 2 assets not run",
        f"  {BLOCKED_DAY}:",
        "    check gated:gated_ok: quarantine_rate 0.29 > 0.05",
        "    not run, downstream of a failure (2): after_gate, labelled",
        "  unpartitioned:",
        "    step model: not enough labelled turns in the window",
    ]
    assert "Traceback" not in out + err
    assert "selflearn run: 2 failure(s)" in err


def test_cli_fail_fast_stops_at_the_blocked_day(small_project, capsys):
    code = cli.main(["run", "--start", BLOCKED_DAY, "--fail-fast"])
    out, _ = capsys.readouterr()
    assert code == 1
    assert "(model)" not in out  # the unpartitioned stage never started
    assert (
        out.splitlines()[-1]
        == "[selflearn] stopped at the first failure (--fail-fast): later runs were not started"
    )


def test_cli_ctrl_c_exits_130_with_one_line(small_project, monkeypatch, capsys):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_range", interrupt)
    code = cli.main(["run"])
    err = capsys.readouterr().err
    assert code == 130
    assert [line for line in err.splitlines() if line] == [
        f"selflearn run: interrupted; finished runs are recorded in DAGSTER_HOME={small_project / 'dagster'}"
    ]
