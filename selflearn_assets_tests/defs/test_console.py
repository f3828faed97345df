"""The jobs' console logger: a failed blocking check prints no traceback; a real failure still does."""

import dagster as dg

from selflearn_assets.defs.console import console


@dg.asset
def checked() -> int:
    return 1


@dg.asset_check(asset=checked, blocking=True)
def always_fails() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description="the data is bad")


@dg.asset(deps=[checked])
def below() -> int:
    return 2


@dg.asset
def crashes() -> int:
    raise ValueError("a real bug in an asset")


def _run(selection: list[str]) -> dg.ExecuteInProcessResult:
    defs = dg.Definitions(
        assets=[checked, below, crashes],
        asset_checks=[always_fails],
        jobs=[dg.define_asset_job("job", selection=selection)],
        loggers={"console": console},
    )
    return defs.resolve_job_def("job").execute_in_process(
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}}, raise_on_error=False
    )


def test_a_failed_blocking_check_prints_no_traceback(capsys):
    result = _run(["checked", "below"])
    assert not result.success
    err = capsys.readouterr().err
    assert "DagsterAssetCheckFailedError" not in err and "Stack Trace" not in err
    assert "Dependencies for step below failed" in err  # one line: what was not run


def test_a_real_failure_keeps_its_traceback(capsys):
    result = _run(["crashes"])
    assert not result.success
    err = capsys.readouterr().err
    assert "ValueError: a real bug in an asset" in err and "Stack Trace" in err
