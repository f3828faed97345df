"""The code location loads, and every job, schedule, sensor and check resolves."""

import dagster as dg

from selflearn_assets.definitions import defs
from selflearn_assets.defs.jobs import UNPARTITIONED_GROUPS
from selflearn_assets.runner import plan_stages


def test_definitions_resolve_everything(selflearn_home):
    d = defs()
    jobs = {j.name for j in d.resolve_all_job_defs()}
    assert "daily_pipeline" in jobs
    graph = d.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.materializable_asset_keys}
    assert {"clean_turns", "quarantined_turns", "sessions", "annotations"} <= keys
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert {
        ("clean_turns", "clean_turns_expectations"),
        ("clean_turns", "ingest_accounting"),
        ("clean_turns", "clean_turns_volume"),
    } <= checks
    assert d.resolve_schedule_def("daily_pipeline_schedule").job_name == "daily_pipeline"
    assert d.resolve_sensor_def("raw_partition_sensor").job_name == "daily_pipeline"


def test_blocking_flags(selflearn_home):
    graph = defs().resolve_asset_graph()
    blocking = {k.name: graph.get_check_spec(k).blocking for k in graph.asset_check_keys}
    assert blocking["clean_turns_expectations"] and blocking["ingest_accounting"]
    assert not blocking["clean_turns_volume"]


def test_every_asset_outside_unpartitioned_groups_is_daily(selflearn_home):
    graph = defs().resolve_asset_graph()
    for key in graph.materializable_asset_keys:
        node = graph.get(key)
        assert (node.partitions_def is None) == (node.group_name in UNPARTITIONED_GROUPS), key


def test_stages_follow_dependency_order(selflearn_home):
    stages = plan_stages(defs().resolve_asset_graph())
    order = [k.to_user_string() for s in stages for k in s.keys]
    assert order.index("clean_turns") < order.index("sessions")
    assert all(isinstance(k, dg.AssetKey) for s in stages for k in s.keys)


def test_schedule_runs_yesterdays_partition(selflearn_home):
    from datetime import UTC, datetime

    from selflearn_assets.defs.jobs import daily_schedule

    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 5, 2, 0, tzinfo=UTC))
    requests = daily_schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2026-11-04"]


def test_release_assets_and_gates_are_wired(selflearn_home):
    from selflearn_assets.lib.releases.gates import GATES

    d = defs()
    graph = d.resolve_asset_graph()
    release, export = dg.AssetKey("label_release"), dg.AssetKey("label_release_export")
    assert {graph.get(k).group_name for k in (release, export)} == {"releases"}
    assert {dg.AssetKey("turn_labels"), dg.AssetKey("failure_points")} <= graph.get(release).parent_keys
    assert release in graph.get(export).parent_keys
    gates = {
        k.name: graph.get_check_spec(k).blocking for k in graph.asset_check_keys if k.asset_key == release
    }
    # drift warns unless drift_blocking (then it fails as an ERROR and the export refuses to publish)
    assert gates == {**dict.fromkeys(GATES, True), "label_release_drift": False}
    order = [k for s in plan_stages(d.resolve_asset_graph()) for k in s.keys]
    assert order.index(dg.AssetKey("turn_labels")) < order.index(release) < order.index(export)
