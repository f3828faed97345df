"""`selflearn run` goes on past a failed step or a failed blocking check, leaving out only what depends on
it, and reports them all; `--fail-fast` stops at the first; Ctrl-C exits 130 without a traceback. Its runs
are runs of the workspace's code location: the UI lists them under their job and re-executes them.

A small graph stands in for the project's: a daily stage, an unpartitioned model, then a daily stage again.
It is a code location of its own (`small_world` in this module), loaded from a workspace file as
`dagster dev -w` would load it.
"""

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

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
    """Fails on BOOM_DAY until the disk is freed (the re-execution test frees it)."""
    if context.partition_key == BOOM_DAY and not os.environ.get("SELFLEARN_TEST_DISK_FREED"):
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


@dg.asset(partitions_def=daily)
def interrupted() -> None:
    raise KeyboardInterrupt


@dg.definitions
def small_world() -> dg.Definitions:
    return _defs()


@dg.definitions
def small_world_with_ctrl_c() -> dg.Definitions:
    return _defs(interrupted)


def _write_workspace(folder: Path, attribute: str) -> Path:
    """A workspace file with one code location: `attribute` of this module."""
    path = folder / "workspace.yaml"
    module = {"module_name": __name__, "attribute": attribute, "working_directory": str(Path.cwd())}
    path.write_text(yaml.safe_dump({"load_from": [{"python_module": module}]}))
    return path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return _write_workspace(tmp_path_factory.mktemp("workspace"), "small_world")


@pytest.fixture(scope="module")
def instance():
    """A persistent instance (SQLite in a temp DAGSTER_HOME), so that a code server can launch runs in it."""
    with dg.instance_for_test(synchronous_run_coordinator=True) as instance:
        yield instance


@pytest.fixture(scope="module")
def went_on(workspace, instance):
    """One `run_range` over the three days: (report, progress lines, materialized partitions per asset)."""
    lines: list[str] = []
    report = runner.run_range(runner.load_code_location(workspace), instance, DAYS, echo=lines.append)
    materialized = {
        name: set(instance.get_materialized_partitions(dg.AssetKey(name)))
        for name in ("gated", "flaky", "independent", "after_gate", "after_flaky", "labelled")
    }
    return report, lines, materialized


def test_stages_put_the_model_between_two_daily_stages():
    graph = _defs().resolve_asset_graph()
    stages = [(s.daily, {k.to_user_string() for k in s.keys}) for s in runner.plan_stages(graph)]
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


def test_fail_fast_stops_at_the_first_failing_day(workspace):
    lines: list[str] = []
    location = runner.load_code_location(workspace)
    with dg.DagsterInstance.ephemeral() as instance:
        report = runner.run_range(location, instance, DAYS, echo=lines.append, fail_fast=True)
        assert set(instance.get_materialized_partitions(dg.AssetKey("independent"))) == {
            "2026-11-01",
            BLOCKED_DAY,
        }
    assert report.stopped_early
    assert [run.label for run in report.runs] == ["2026-11-01", BLOCKED_DAY]
    assert [f.what for f in report.failures] == ["check gated:gated_ok"]
    assert report.summary()[-1].endswith("(--fail-fast): later runs were not started")
    assert any(line.startswith(f"[selflearn] {BLOCKED_DAY}: FAILED") for line in lines)


def test_an_interrupted_run_raises_keyboard_interrupt(tmp_path):
    """Dagster turns a Ctrl-C inside a step into a failed run; the runner must not go on to the next day."""
    location = runner.load_code_location(_write_workspace(tmp_path, "small_world_with_ctrl_c"))
    lines: list[str] = []
    with dg.DagsterInstance.ephemeral() as instance, pytest.raises(KeyboardInterrupt):
        runner.run_range(location, instance, DAYS, echo=lines.append)
    assert len([line for line in lines if "materializing" in line]) == 1


@pytest.fixture
def small_project(selflearn_home, workspace, monkeypatch):
    """`selflearn run` over the small graph: three raw day folders, and the small world's workspace file in
    place of the project's."""
    for day in DAYS:
        write_lines(selflearn_home / "raw" / f"date={day.isoformat()}" / "part-0.jsonl", [{"event_id": "e"}])
    monkeypatch.setattr(runner, "WORKSPACE_YAML", workspace)
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


# The UI's job page lists `Pipeline.runs`: runs with the job's name and its repository's label tag
# (dagster_graphql/schema/pipelines/pipeline.py, resolve_runs).
JOB_RUNS_QUERY = """
query JobRuns($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) {
    __typename
    ... on Pipeline { runs { runId } }
  }
}
"""

# The run page's "Re-execute from failure" button.
REEXECUTE_MUTATION = """
mutation Reexecute($reexecutionParams: ReexecutionParams) {
  launchPipelineReexecution(reexecutionParams: $reexecutionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""


def _runs_by_label(report) -> dict[str, list[str]]:
    runs: dict[str, list[str]] = {}
    for run in report.runs:
        if run.run_id:
            runs.setdefault(run.label, []).append(run.run_id)
    return runs


def test_runs_carry_the_code_location_of_the_workspace(went_on, instance):
    """Every run records the location, repository and job the UI knows it by, and the UI's filter finds it."""
    report, _, _ = went_on
    label = "__repository__@selflearn_assets_tests.test_runner:small_world"  # as Dagster derives it
    for day, run_ids in _runs_by_label(report).items():
        for run_id in run_ids:
            run = instance.get_run_by_id(run_id)
            assert run.job_name == (
                runner.UNPARTITIONED_JOB if day == runner.UNPARTITIONED else runner.DAILY_JOB
            )
            origin = run.remote_job_origin
            assert (origin.location_name, origin.repository_origin.repository_name) == (
                "selflearn_assets_tests.test_runner:small_world",
                "__repository__",
            )
            assert origin.job_name == run.job_name
            # stored as the run's `.dagster/repository` tag (DagsterRun.tags_for_storage), filtered on below
            assert origin.repository_origin.get_label() == label
            assert run.tags["selflearn/source"] == "selflearn run"
            assert run.tags.get("dagster/partition") == (None if day == runner.UNPARTITIONED else day)
            pointer = run.job_code_origin.repository_origin.code_pointer
            assert (pointer.module, pointer.fn_name) == (__name__, "small_world")
    runs = _runs_by_label(report)
    daily = {run_id for day, ids in runs.items() if day != runner.UNPARTITIONED for run_id in ids}
    found = instance.get_runs(dg.RunsFilter(job_name=runner.DAILY_JOB, tags={REPOSITORY_LABEL_TAG: label}))
    assert {run.run_id for run in found} == daily and len(daily) == 5  # 3 days x first stage + 2 days x last
    found = instance.get_runs(
        dg.RunsFilter(job_name=runner.UNPARTITIONED_JOB, tags={REPOSITORY_LABEL_TAG: label})
    )
    assert [run.run_id for run in found] == runs[runner.UNPARTITIONED]


def test_the_ui_lists_the_runs_under_their_job_and_reexecutes_them(went_on, instance, workspace, monkeypatch):
    """The workspace loaded as `dagster dev -w` loads it (a code server process), queried through the
    webserver's GraphQL schema: the job page lists every daily run, and "re-execute from failure" of the day
    whose step failed runs that step again, in a run of its own, now that the disk is freed."""
    from dagster._core.test_utils import poll_for_finished_run
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster_graphql.test.utils import execute_dagster_graphql

    report, _, _ = went_on
    runs = _runs_by_label(report)
    boom_run_id = runs[BOOM_DAY][0]  # flaky failed, after_flaky was skipped
    monkeypatch.setenv("SELFLEARN_TEST_DISK_FREED", "1")  # read by the code server's run worker
    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace)])) as process:
        context = process.create_request_context()
        (location_name,) = context.code_location_names
        repository = context.get_code_location(location_name).get_repository("__repository__")
        assert repository.get_full_job(runner.DAILY_JOB).get_remote_origin() == (
            instance.get_run_by_id(boom_run_id).remote_job_origin
        )
        selector = {
            "repositoryLocationName": location_name,
            "repositoryName": "__repository__",
            "pipelineName": runner.DAILY_JOB,
        }
        listed = execute_dagster_graphql(context, JOB_RUNS_QUERY, {"selector": selector}).data
        daily = {run_id for day, ids in runs.items() if day != runner.UNPARTITIONED for run_id in ids}
        assert {run["runId"] for run in listed["pipelineOrError"]["runs"]} == daily

        params = {"parentRunId": boom_run_id, "strategy": "FROM_FAILURE"}
        launched = execute_dagster_graphql(context, REEXECUTE_MUTATION, {"reexecutionParams": params}).data
        result = launched["launchPipelineReexecution"]
        assert result["__typename"] == "LaunchRunSuccess", result
        rerun = poll_for_finished_run(instance, result["run"]["runId"], timeout=60)

        listed = execute_dagster_graphql(context, JOB_RUNS_QUERY, {"selector": selector}).data
        assert rerun.run_id in {run["runId"] for run in listed["pipelineOrError"]["runs"]}
    assert rerun.status == dg.DagsterRunStatus.SUCCESS
    assert (rerun.parent_run_id, rerun.job_name, rerun.tags["dagster/partition"]) == (
        boom_run_id,
        runner.DAILY_JOB,
        BOOM_DAY,
    )
    assert set(rerun.step_keys_to_execute) == {"flaky", "after_flaky"}
    for name in ("flaky", "after_flaky"):
        event = instance.get_latest_materialization_event(dg.AssetKey(name))
        assert (event.run_id, event.dagster_event.partition) == (rerun.run_id, BOOM_DAY)


def test_the_project_workspace_is_the_location_the_ui_shows():
    """`selflearn run` loads the project's `workspace.yaml`: its runs get the location name the UI takes
    from that file (its `location_name`, `selflearn`) and the singleton repository's name."""
    location = runner.load_code_location()
    origin = location.remote_job_origin(runner.DAILY_JOB)
    assert (origin.location_name, origin.repository_origin.repository_name) == (
        "selflearn",
        "__repository__",
    )
    assert origin.repository_origin.code_location_origin.loadable_target_origin.module_name == (
        "selflearn_assets.definitions"
    )
    for job_name in (runner.DAILY_JOB, runner.UNPARTITIONED_JOB):
        pointer = location.reconstructable_job(job_name).get_python_origin().repository_origin.code_pointer
        assert (pointer.module, pointer.fn_name) == ("selflearn_assets.definitions", "defs")
        assert location.repository.has_job(job_name)


def test_the_project_names_its_code_location_as_the_workspace_does():
    """The components loader compares the dg project's `code_location_name` with the name the location is
    registered under (workspace.yaml's) and warns on every defs module, at each load, when they differ; and
    `dagster dev` without a workspace file names the location from [tool.dagster]. All three agree."""
    import tomllib

    from dagster._core.workspace.load import location_origins_from_yaml_paths
    from dagster.components.core.component_tree import ComponentTree

    (origin,) = location_origins_from_yaml_paths([str(runner.WORKSPACE_YAML)])
    tree = ComponentTree.for_project(Path(runner.__file__).parent)
    pyproject = tomllib.loads((tree.project_root / "pyproject.toml").read_text())
    assert origin.location_name == tree.code_location_name == "selflearn"
    assert pyproject["tool"]["dagster"]["code_location_name"] == "selflearn"


# What `selflearn run` says before it runs anything: far-off raw folders, days outside the partitions, missing
# days, a locked warehouse. `daily` starts on 2026-11-01; its last day is the last complete UTC day.
LAST_DAY = daily.get_last_partition_key()
SPAN = f"2026-11-01 .. {LAST_DAY}"


def _raw_day(home: Path, day: str) -> None:
    write_lines(home / "raw" / f"date={day}" / "part-0.jsonl", [{"event_id": "e"}])


def test_a_far_off_raw_folder_is_named_and_left_out(small_project, capsys):
    _raw_day(small_project, "2999-01-01")
    code = cli.main(["run", "--end", "2026-11-01"])
    out, err = capsys.readouterr()
    assert code == 1  # the small world's model fails on any day
    assert out.splitlines()[:2] == [
        f"[selflearn] left out 1 raw folder(s) outside the daily partitions ({SPAN}): date=2999-01-01",
        f"[selflearn] raw root {small_project / 'raw'}; home {small_project}; days 2026-11-01 .. 2026-11-01",
    ]
    assert "2999" not in err and "Traceback" not in out + err


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--start", "2999-01-01"],
            f"2999-01-01 is not a daily partition: the partitions run from {SPAN} (the first is "
            "the first day of raw data or SELFLEARN_PARTITIONS_START, the last the last complete UTC day)",
        ),
        (["--start", "2026-10-30", "--end", "2026-11-01"], "2026-10-30, 2026-10-31 are not daily partitions"),
        (["--start", "2026-11-03", "--end", "2026-11-01"], "--end 2026-11-01 is before --start 2026-11-03"),
        (
            ["--start", "2026-11-01", "--end", "2026-11-09"],
            "6 day(s) missing between 2026-11-04 and 2026-11-09: no raw folder under {raw} for 2026-11-04, "
            "2026-11-05, 2026-11-06, 2026-11-07, 2026-11-08, ... (+1 more) (raw folders: 2026-11-01..2026-11-03, "
            "2999-01-01)",
        ),
    ],
)
def test_days_that_cannot_run_are_refused_in_one_line(small_project, capsys, argv, message):
    _raw_day(small_project, "2999-01-01")
    assert cli.main(["run", *argv]) == 2
    out, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert line.startswith("selflearn run: ") and message.format(raw=small_project / "raw") in line
    assert "Traceback" not in out + err and "materializing" not in out


def test_a_gap_in_the_default_range_is_counted_not_listed(small_project, capsys):
    """A stray folder inside the partitions, months before the others: one line, not a day per line."""
    _raw_day(small_project, LAST_DAY)  # the raw folders hold DAYS (2026-11-01..03) and this one
    missing = (date.fromisoformat(LAST_DAY) - date(2026, 11, 4)).days
    assert cli.main(["run"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"selflearn run: {missing} day(s) missing between 2026-11-04 and ")
    assert line.endswith(f"(raw folders: 2026-11-01..2026-11-03, {LAST_DAY}); choose the days with --start/--end")
    assert len(line) < 400


def test_a_locked_warehouse_fails_at_once_naming_the_holder(small_project, capsys):
    warehouse = small_project / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    script = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); print(1, flush=True); " \
        "time.sleep(60)"
    reader = subprocess.Popen([sys.executable, "-c", script, str(warehouse)], stdout=subprocess.PIPE)
    try:
        reader.stdout.readline()
        assert cli.main(["run"]) == 2
    finally:
        reader.kill()
        reader.wait()
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"selflearn run: the warehouse {warehouse} is locked by another process: ")
    assert f"(PID {reader.pid}: " in line


def test_the_demo_simulates_the_last_complete_days_so_its_partitions_are_full():
    from selflearn_assets.cli import build_parser, demo_start

    assert demo_start(3, today=date(2026, 12, 3)) == date(2026, 11, 30)  # 11-30, 12-01, 12-02: up to yesterday
    assert demo_start(1, today=date(2026, 1, 1)) == date(2025, 12, 31)
    assert build_parser().parse_args(["demo"]).start is None  # computed at run time, not at import
    assert build_parser().parse_args(["demo", "--start", "2026-11-01"]).start == date(2026, 11, 1)
