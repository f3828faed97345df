"""A crashed run never blocks the next: runs whose process is gone are found, marked FAILED and made to free
their slots of the `duckdb` pool and their MLflow runs; a live run keeps its slot, and a run waiting for it
says who holds it and stops on Ctrl-C or SIGTERM.

The fast tests build runs and claims by hand in a test instance. The slow ones kill real `selflearn run`
processes (the CLI on `toy_world` below, a code location of its own) while a step holds the pool.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.test_utils import create_run_for_test

from selflearn_assets import recovery, runner
from selflearn_assets.lib import processes
from selflearn_assets_tests.conftest import write_lines

DAY = "2026-11-01"
POOL = "duckdb"

daily = dg.DailyPartitionsDefinition(start_date=DAY)


@dg.asset(partitions_def=daily, pool=POOL)
def slow_writer(context: dg.AssetExecutionContext) -> None:
    """Holds the pool: writes its run id to $SELFLEARN_TEST_MARKER, then sleeps $SELFLEARN_TEST_HOLD_S seconds
    (inside an MLflow run tagged with the Dagster run when $SELFLEARN_TEST_MLFLOW is set)."""
    hold = float(os.environ.get("SELFLEARN_TEST_HOLD_S", "0"))
    marker = Path(os.environ["SELFLEARN_TEST_MARKER"])
    if not os.environ.get("SELFLEARN_TEST_MLFLOW"):
        marker.write_text(context.run_id)
        time.sleep(hold)
        return
    from selflearn_assets.lib.models import tracking

    tracking.configure(os.environ["SELFLEARN_HOME"], "recovery_test")
    with tracking.start_run("recovery_test", tags={recovery.MLFLOW_RUN_TAG: context.run_id}):
        marker.write_text(context.run_id)
        time.sleep(hold)


@dg.definitions
def toy_world() -> dg.Definitions:
    return dg.Definitions(
        assets=[slow_writer],
        jobs=[dg.define_asset_job(runner.DAILY_JOB, selection=[slow_writer], partitions_def=daily)],
    )


# ---------------------------------------------------------------- fast: runs and claims made by hand


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 10)
        yield instance


def _dead() -> processes.ProcessId:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = processes.ProcessId(child.pid, processes.current().host, processes.start_time(child.pid) or "")
    child.wait()
    return identity


def _run_holding(instance, process, status=dg.DagsterRunStatus.STARTED, step="writer"):
    tags = (
        {}
        if process is None
        else {
            recovery.PID_TAG: str(process.pid),
            recovery.HOST_TAG: process.host,
            recovery.STARTED_TAG: process.started,
        }
    )
    run = create_run_for_test(instance, job_name=runner.DAILY_JOB, status=status, tags=tags)
    claim = instance.event_log_storage.claim_concurrency_slot(POOL, run.run_id, step)
    assert claim.is_claimed
    return run


def _holders(instance) -> set[str]:
    return {slot.run_id for slot in recovery.pool_slots(instance, [POOL]) if slot.claimed}


def test_recover_releases_dead_runs_and_leaves_live_ones(instance, tmp_path):
    me = processes.current()
    dead = _run_holding(instance, _dead())
    reused = _run_holding(instance, processes.ProcessId(me.pid, me.host, "1"))  # our pid, another start time
    live = _run_holding(instance, me)
    elsewhere = _run_holding(instance, processes.ProcessId(1, "another-host.invalid", "5"))
    from_ui = _run_holding(instance, None)  # not started by `selflearn run`: no process recorded
    failed_by_hand = _run_holding(
        instance, None, status=dg.DagsterRunStatus.FAILURE
    )  # marked failed in the UI
    assert _holders(instance) == {r.run_id for r in (dead, reused, live, elsewhere, from_ui, failed_by_hand)}

    planned = recovery.recover(instance, tmp_path, dry_run=True)
    assert {r.run_id for r in planned} == {dead.run_id, reused.run_id, failed_by_hand.run_id}
    assert len(_holders(instance)) == 6  # a dry run changes nothing

    done = {r.run_id: r for r in recovery.recover(instance, tmp_path)}
    assert set(done) == {dead.run_id, reused.run_id, failed_by_hand.run_id}
    assert _holders(instance) == {live.run_id, elsewhere.run_id, from_ui.run_id}
    statuses = {r: instance.get_run_by_id(r).status for r in done}
    assert statuses == {r: dg.DagsterRunStatus.FAILURE for r in done}
    assert done[dead.run_id].line() == (
        f"recovered run {dead.run_id} ({runner.DAILY_JOB}, STARTED): its process (pid {dead.tags[recovery.PID_TAG]} "
        f"on {me.host}) is gone; marked FAILED, freed {POOL} (writer)"
    )
    assert done[failed_by_hand.run_id].why == "it is FAILURE but still holds pool slots"
    assert recovery.recover(instance, tmp_path) == []  # nothing left to do
    assert "not started by `selflearn run`" in recovery.holder_line(
        instance, recovery.Slot(POOL, from_ui.run_id, "writer", True)
    )


def test_a_run_that_never_started_is_released_too(instance, tmp_path):
    """Killed between creating its run and executing it: NOT_STARTED, no claim, nobody to start it."""
    run = create_run_for_test(
        instance,
        job_name=runner.DAILY_JOB,
        status=dg.DagsterRunStatus.NOT_STARTED,
        tags={recovery.PID_TAG: str(_dead().pid), recovery.HOST_TAG: processes.current().host},
    )
    (done,) = recovery.recover(instance, tmp_path)
    assert (done.run_id, done.slots) == (run.run_id, ())
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE


def test_wait_for_pools_releases_a_dead_holder_and_returns(instance):
    instance.event_log_storage.set_concurrency_slots(POOL, 1)
    dead = _run_holding(instance, _dead())
    lines: list[str] = []
    recovery.wait_for_pools(instance, [POOL], echo=lines.append, poll_s=0.01)
    assert _holders(instance) == set()
    assert [line.split(":")[0] for line in lines] == [
        f"[selflearn] recovered run {dead.run_id} ({runner.DAILY_JOB}, STARTED)"
    ]


def test_wait_for_pools_waits_for_a_live_holder_and_says_who(instance):
    instance.event_log_storage.set_concurrency_slots(POOL, 1)
    live = _run_holding(instance, processes.current(), step="label_model")
    lines: list[str] = []
    timer = threading.Timer(0.3, instance.event_log_storage.free_concurrency_slots_for_run, [live.run_id])
    timer.start()
    started = time.monotonic()
    recovery.wait_for_pools(instance, [POOL], echo=lines.append, poll_s=0.02, report_every_s=60)
    assert 0.25 < time.monotonic() - started < 5
    assert lines == [
        f"[selflearn] waiting: pool {POOL} is held by run {live.run_id} ({runner.DAILY_JOB}, STARTED, step "
        f"label_model; process pid {os.getpid()} on {processes.current().host}, alive); Ctrl-C to stop"
    ]
    assert instance.get_run_by_id(live.run_id).status == dg.DagsterRunStatus.STARTED  # a live run is left be


def _write_workspace(folder: Path) -> Path:
    path = folder / "workspace.yaml"
    module = {"module_name": __name__, "attribute": "toy_world", "working_directory": str(Path.cwd())}
    path.write_text(yaml.safe_dump({"load_from": [{"python_module": module}]}))
    return path


def test_ctrl_c_while_dagster_waits_for_the_pool_cancels_the_run(instance, tmp_path, monkeypatch):
    """Past the runner's own wait (a holder that came in between): Dagster's executor loops on the claim and
    ignores the captured SIGINT; the watch cancels the run (which `run_range` reads as an interruption), and
    the run lets go of its place in the queue."""
    instance.event_log_storage.set_concurrency_slots(POOL, 1)
    holder = _run_holding(instance, processes.current())
    monkeypatch.setenv("SELFLEARN_TEST_MARKER", str(tmp_path / "marker"))
    location = runner.load_code_location(_write_workspace(tmp_path))
    run_config = {"execution": {"config": {"in_process": {}}}}
    threading.Timer(2.0, signal.pthread_kill, [threading.main_thread().ident, signal.SIGINT]).start()
    started = time.monotonic()
    lines: list[str] = []
    run = runner._execute(
        location,
        instance,
        runner.DAILY_JOB,
        [slow_writer.key],
        date(2026, 11, 1),
        run_config,
        [POOL],
        lines.append,
    )
    assert time.monotonic() - started < 30
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELED
    assert runner._interrupted(runner._run_events(instance, run.run_id))
    assert {slot.run_id for slot in recovery.pool_slots(instance, [POOL])} == {holder.run_id}
    assert not (tmp_path / "marker").exists()  # the step never ran


# ---------------------------------------------------------------- slow: real processes, really killed

DRIVER = (
    "import sys; from pathlib import Path; from selflearn_assets import cli, runner; "
    "runner.WORKSPACE_YAML = Path(sys.argv[1]); sys.exit(cli.main(sys.argv[2:]))"
)


@pytest.fixture
def toy_home(tmp_path):
    home = tmp_path / "home"
    write_lines(home / "raw" / f"date={DAY}" / "part-0.jsonl", [{"event_id": "e"}])
    yield home
    for process in _started:  # a failed test leaves no process behind
        if process.poll() is None:
            process.kill()
            process.wait()
    _started.clear()


_started: list[subprocess.Popen] = []


def _selflearn_run(home: Path, workspace: Path, marker: Path, hold_s: float, mlflow: bool = False):
    env = {
        **os.environ,
        "SELFLEARN_HOME": str(home),
        "SELFLEARN_RAW_ROOT": str(home / "raw"),
        "DAGSTER_HOME": str(home / "dagster"),
        "SELFLEARN_TEST_MARKER": str(marker),
        "SELFLEARN_TEST_HOLD_S": str(hold_s),
        "SELFLEARN_TEST_MLFLOW": "1" if mlflow else "",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(workspace), "run", "--start", DAY],
        env=env,
        cwd=Path.cwd(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _started.append(process)
    return process


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.1)
    time.sleep(0.2)
    return path.read_text()


def _read_until(process: subprocess.Popen, text: str, timeout: float = 60) -> list[str]:
    lines: list[str] = []
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if text in line:
                return lines
    finally:
        timer.cancel()
    raise AssertionError(f"{text!r} never printed:\n" + "\n".join(lines))


def _home_instance(home: Path):
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    return dg.DagsterInstance.get()


@pytest.mark.slow
def test_a_run_killed_while_holding_the_pool_does_not_block_the_next(toy_home, tmp_path, monkeypatch):
    """`kill -9` of `selflearn run` while its step holds the pool and its MLflow run is open; the next
    `selflearn run` releases it (FAILED, slot freed, MLflow run FAILED) and completes."""
    monkeypatch.setenv("DAGSTER_HOME", str(toy_home / "dagster"))
    workspace = _write_workspace(tmp_path)
    first = _selflearn_run(toy_home, workspace, tmp_path / "first", hold_s=600, mlflow=True)
    killed_run = _wait_for(tmp_path / "first", first)
    first.kill()  # SIGKILL: no cleanup of any kind
    first.wait()
    with _home_instance(toy_home) as instance:
        assert instance.get_run_by_id(killed_run).status == dg.DagsterRunStatus.STARTED
        assert killed_run in _holders(instance)

    started = time.monotonic()
    second = _selflearn_run(toy_home, workspace, tmp_path / "second", hold_s=0)
    out, _ = second.communicate(timeout=180)
    assert second.returncode == 0, out
    assert time.monotonic() - started < 120
    assert f"[selflearn] recovered run {killed_run} ({runner.DAILY_JOB} {DAY}, STARTED): its process" in out
    assert f"freed {POOL} (slow_writer); 1 MLflow run(s) marked FAILED" in out

    with _home_instance(toy_home) as instance:
        assert instance.get_run_by_id(killed_run).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id((tmp_path / "second").read_text()).status == dg.DagsterRunStatus.SUCCESS
        assert _holders(instance) == set()
    from mlflow.tracking import MlflowClient

    from selflearn_assets.lib.models import tracking

    client = MlflowClient(tracking_uri=tracking.mlflow_tracking_uri(toy_home))
    (mlflow_run,) = client.search_runs([client.get_experiment_by_name("recovery_test").experiment_id])
    assert (mlflow_run.data.tags[recovery.MLFLOW_RUN_TAG], mlflow_run.info.status) == (killed_run, "FAILED")


@pytest.mark.slow
def test_a_live_holder_keeps_its_slot_and_signals_stop_runs_cleanly(toy_home, tmp_path, monkeypatch):
    """A second `selflearn run` waits for a live first one, saying who holds the pool; Ctrl-C stops it
    (exit 130), the first keeps its slot; SIGTERM then stops the first in its step (exit 143), its run is
    ended and its slot freed."""
    monkeypatch.setenv("DAGSTER_HOME", str(toy_home / "dagster"))
    workspace = _write_workspace(tmp_path)
    first = _selflearn_run(toy_home, workspace, tmp_path / "first", hold_s=600)
    holder = _wait_for(tmp_path / "first", first)

    second = _selflearn_run(toy_home, workspace, tmp_path / "second", hold_s=0)
    lines = _read_until(second, f"waiting: pool {POOL} is held by run {holder}")
    assert lines[-1].endswith(
        f"process pid {first.pid} on {processes.current().host}, alive); Ctrl-C to stop"
    )
    second.send_signal(signal.SIGINT)
    assert second.wait(timeout=30) == 130
    assert not (tmp_path / "second").exists()

    with _home_instance(toy_home) as instance:
        assert _holders(instance) == {holder}
        assert instance.get_run_by_id(holder).status == dg.DagsterRunStatus.STARTED
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 143
    with _home_instance(toy_home) as instance:
        assert instance.get_run_by_id(holder).status in (
            dg.DagsterRunStatus.CANCELED,
            dg.DagsterRunStatus.FAILURE,
        )
        assert _holders(instance) == set()
        assert recovery.find_dead_runs(instance) == []
