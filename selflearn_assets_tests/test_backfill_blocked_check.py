"""A backfill launched from the UI goes on past a failed blocking check, as `selflearn run` does: on the day
the check fails, what is downstream of the checked asset is not materialized (that day, and the unpartitioned
asset that reads every day); everything else is, that day and the others.

The backfill is launched through the webserver's GraphQL mutation (`launchPartitionBackfill`, what the UI's
"Materialize selected" over a date range sends) and carried out by the backfill daemon's own iteration
(`execute_backfill_iteration`), called here in a loop instead of by a daemon process. The run coordinator
and launcher execute each run in this process as it is submitted. Toy assets stand in for the project's:
`landed` + its blocking check are `clean_turns` + `clean_turns_expectations`, `trained` is a model.
"""

import logging
from pathlib import Path

import dagster as dg
import pytest

START, BAD_DAY, END = "2026-11-01", "2026-11-02", "2026-11-03"
DAYS = {START, BAD_DAY, END}

daily = dg.DailyPartitionsDefinition(start_date=START, end_date="2026-11-04")


@dg.asset(partitions_def=daily)
def landed() -> None:
    """Written every day; its blocking check fails on BAD_DAY."""


@dg.asset_check(asset=landed, blocking=True)
def landed_is_clean(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    bad = context.partition_key == BAD_DAY
    return dg.AssetCheckResult(passed=not bad, description="quarantine_rate 0.29 > 0.05" if bad else None)


@dg.asset(partitions_def=daily, deps=[landed])
def cleaned() -> None:
    pass


@dg.asset(partitions_def=daily, deps=[cleaned])
def exported() -> None:
    pass


@dg.asset(partitions_def=daily)
def independent() -> None:
    pass


@dg.asset(partitions_def=daily, deps=[independent])
def after_independent() -> None:
    pass


@dg.asset(deps=[cleaned])
def trained() -> None:
    """Reads every day of `cleaned`."""


@dg.asset(deps=[after_independent])
def counted() -> None:
    """Reads every day of `after_independent` only."""


toy_world = dg.Definitions(
    assets=[landed, cleaned, exported, independent, after_independent, trained, counted],
    asset_checks=[landed_is_clean],
    executor=dg.in_process_executor,
)

LAUNCH_BACKFILL = """
mutation Backfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""


@pytest.fixture(scope="module")
def backfilled():
    """The UI's backfill of every asset over the three days: (backfill, materialized partitions per asset)."""
    from dagster._core.execution.backfill import BulkActionStatus
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster_graphql.test.utils import execute_dagster_graphql

    target = LoadableTargetOrigin(
        module_name=__name__, attribute="toy_world", working_directory=str(Path.cwd())
    )
    with (
        dg.instance_for_test(synchronous_run_coordinator=True, synchronous_run_launcher=True) as instance,
        WorkspaceProcessContext(
            instance, InProcessWorkspaceLoadTarget(InProcessCodeLocationOrigin(target))
        ) as workspace,
    ):
        params = {
            "assetSelection": [
                {"path": key.path} for key in toy_world.resolve_asset_graph().get_all_asset_keys()
            ],
            "partitionNames": sorted(DAYS),
        }
        launched = execute_dagster_graphql(
            workspace.create_request_context(), LAUNCH_BACKFILL, {"backfillParams": params}
        ).data["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]
        logger = logging.getLogger("BackfillDaemon")
        for _ in range(10):  # each iteration submits what has become ready (and runs it, synchronously)
            errors = [e for e in execute_backfill_iteration(workspace, logger) if e is not None]
            assert not errors, errors[0].to_string()
            backfill = instance.get_backfill(backfill_id)
            if backfill.status != BulkActionStatus.REQUESTED:
                break
        materialized = {
            key.to_user_string(): set(instance.get_materialized_partitions(key))
            if key.to_user_string() not in ("trained", "counted")
            else instance.get_latest_materialization_event(key) is not None
            for key in toy_world.resolve_asset_graph().get_all_asset_keys()
        }
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        yield backfill, materialized, runs


def test_the_backfill_finishes_and_says_it_failed(backfilled):
    """One run per day, then one for what reads the days; `trained` gets no run: its BAD_DAY input failed."""
    from dagster._core.execution.backfill import BulkActionStatus

    backfill, _, runs = backfilled
    assert backfill.status == BulkActionStatus.COMPLETED_FAILED
    daily_assets = ["after_independent", "cleaned", "exported", "independent", "landed"]
    assert sorted(
        (
            run.tags.get("dagster/partition", ""),
            sorted(k.to_user_string() for k in run.asset_selection),
            run.status,
        )
        for run in runs
    ) == [
        ("", ["counted"], dg.DagsterRunStatus.SUCCESS),
        (START, daily_assets, dg.DagsterRunStatus.SUCCESS),
        (BAD_DAY, daily_assets, dg.DagsterRunStatus.FAILURE),
        (END, daily_assets, dg.DagsterRunStatus.SUCCESS),
    ]


def test_downstream_of_the_failed_check_is_not_materialized_on_that_day(backfilled):
    _, materialized, _ = backfilled
    assert materialized["landed"] == DAYS  # written, then its check failed
    assert materialized["cleaned"] == materialized["exported"] == DAYS - {BAD_DAY}
    assert materialized["trained"] is False  # it reads BAD_DAY's `cleaned`


def test_what_does_not_depend_on_the_check_is_materialized_every_day(backfilled):
    _, materialized, _ = backfilled
    assert materialized["independent"] == materialized["after_independent"] == DAYS
    assert materialized["counted"] is True
