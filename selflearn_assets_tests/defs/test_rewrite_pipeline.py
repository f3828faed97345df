"""Signals → Markov rewrites → export → evaluation, end to end on a small simulated window."""

import json
from datetime import date, timedelta

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from selflearn_assets.definitions import defs
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.lib.evaluation.rewrite_replay import save_simulator_config
from selflearn_assets.lib.markov import normalize_utterance
from selflearn_assets.lib.simulator import SimConfig, simulate

START = date(2026, 11, 1)
DAYS = 4
# A small window has fewer users per reformulation than the defaults (k = 5, 10 transitions) expect.
MARKOV = {"min_support_transitions": 4, "min_users": 3, "unsafe_min_users": True}


MODEL_GROUPS = {"models", "labels", "releases", "online"}  # need an encoder and MLflow; covered by their own tests


def _pipeline_assets():
    d = defs()
    graph = d.resolve_asset_graph()
    keep = {k for k in graph.materializable_asset_keys if graph.get(k).group_name not in MODEL_GROUPS}
    assets = [a for a in d.assets if set(a.keys) <= keep]
    checks = [c for c in d.asset_checks if {k.asset_key for k in c.check_keys} <= keep]
    return assets + checks


def _materialize(home, day, markov=MARKOV):
    return dg.materialize(
        _pipeline_assets(),
        partition_key=day.isoformat(),
        resources={
            "duckdb": DuckDBResource(database=str(home / "warehouse.duckdb")),
            "selflearn": SelflearnConfig(home=str(home), raw_root=str(home / "raw"), pseudonym_key="k"),
        },
        run_config={"ops": {"markov_rewrites": {"config": markov}}},
        raise_on_error=False,
    )


@pytest.fixture(scope="module")
def window(tmp_path_factory):
    home = tmp_path_factory.mktemp("rewrites") / "home"
    config = SimConfig(seed=11, users=1500, start=START, days=DAYS, annotation_rate=0.3)
    simulate(config, home / "raw", progress=False)
    save_simulator_config(config, home / "raw")
    results = [_materialize(home, START + timedelta(days=i)) for i in range(DAYS)]
    return home, results


def _query(home, sql, params=None):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.sql(sql, params=params).pl()


def test_every_day_runs_and_passes_its_checks(window):
    _, results = window
    for result in results:
        assert result.success
        failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
        assert failed in ([], ["clean_turns_volume"], ["rewrite_count_stable"]), failed


def test_rewrites_find_the_recurring_misrecognitions(window):
    """Gold says which turns ASR got wrong and what was meant; the mined table must map the recurring
    ones (same wrong text from several users) to what was meant."""
    home, _ = window
    last = START + timedelta(days=DAYS - 1)
    gold = _query(
        home,
        """
        SELECT t.asr_text, t.user_id, json_extract_string(i.label, '$') AS intended
        FROM ingest.annotations f
        JOIN ingest.annotations i ON i.event_id = f.event_id AND i.task = 'intended_text' AND i.is_gold
        JOIN ingest.clean_turns t ON t.event_id = f.event_id
        WHERE f.task = 'failure_point' AND f.is_gold AND json_extract_string(f.label, '$') = 'asr'
        """,
    ).with_columns(
        source=pl.col("asr_text").map_elements(normalize_utterance, return_dtype=pl.String),
        target=pl.col("intended").map_elements(normalize_utterance, return_dtype=pl.String),
    )
    misheard = set(gold.select("source", "target").unique().iter_rows())
    table = _query(home, "SELECT * FROM rewrites.markov_rewrites WHERE day = $d", {"d": last})
    assert table.height >= 5
    fixes = [r for r in table.select("source_text", "rewrite_text").iter_rows() if r in misheard]
    assert len(fixes) >= 3, table.select("source_text", "rewrite_text").to_dicts()
    assert (table["support_users"] >= MARKOV["min_users"]).all()
    assert (table["rewrite_success_prob"] > table["source_success_prob"]).all()


def test_export_has_the_table_and_a_consistent_manifest(window):
    home, _ = window
    folder = home / "exports" / "rewrites" / f"date={START + timedelta(days=DAYS - 1)}"
    manifest = json.loads((folder / "manifest.json").read_text())
    table = pl.read_parquet(folder / "rewrites.parquet")
    assert manifest["rows"] == table.height
    assert {"source_text", "rewrite_text", "source_success_prob", "rewrite_success_prob", "confidence",
            "support_users", "support_sessions"} <= set(table.columns)
    assert manifest["window_end"] == str(START + timedelta(days=DAYS - 1))
    # this small world runs under the privacy floor, and the export says so
    assert manifest["privacy"] == {"min_users": 3, "unsafe_min_users": True}


def test_min_users_under_the_floor_without_the_unsafe_flag_is_refused(window):
    home, _ = window
    result = _materialize(home, START + timedelta(days=DAYS - 1), markov={"min_users": 1})
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "under the privacy floor 5" in failure.event_specific_data.error.message


def test_ab_replay_lowers_the_defect_rate_for_treatment(window):
    home, _ = window
    table_day = START + timedelta(days=DAYS - 2)
    evaluation = json.loads((home / "exports" / "rewrites" / f"date={table_day}" / "evaluation.json").read_text())
    for key in ("wins", "losses", "win_loss", "coverage", "defect_rate_control", "defect_rate_treatment",
                "relative_reduction", "relative_reduction_covered", "relative_reduction_ci",
                "relative_reduction_covered_ci"):
        assert key in evaluation
    assert evaluation["ab_replay"] == "done"
    # The replay is a counterfactual: the same users live the day without and with the table (both arms
    # counted in replay_turns). Where the table fires, it removes most defects. On all traffic of this small
    # world (a table covering ~10% of defects) the reduction is small, but the paired interval measures the
    # table's effect alone, not the differences between users, and is above 0 (~8%, 5..11%).
    assert evaluation["replay_users"] > 1000 and evaluation["replay_turns"] > 2 * evaluation["gold_turns"]
    assert evaluation["defect_rate_covered_treatment"] < evaluation["defect_rate_covered_control"]
    assert evaluation["relative_reduction_covered"] > 0.3
    assert evaluation["defect_rate_treatment"] < evaluation["defect_rate_control"]
    assert 0 < evaluation["relative_reduction_ci"][0] <= evaluation["relative_reduction"]
    assert evaluation["wins"] > 5 * evaluation["losses"]


def test_rematerializing_markov_rewrites_is_idempotent(window):
    home, _ = window
    day = START + timedelta(days=DAYS - 1)
    sql = "SELECT * FROM rewrites.markov_rewrites WHERE day = $d ORDER BY source_text"
    before = _query(home, sql, {"d": day})
    d = defs()
    result = dg.materialize(
        [a for a in d.assets if "markov_rewrites" in {k.to_user_string() for k in a.keys}],
        partition_key=day.isoformat(),
        resources={
            "duckdb": DuckDBResource(database=str(home / "warehouse.duckdb")),
            "selflearn": SelflearnConfig(home=str(home), raw_root=str(home / "raw"), pseudonym_key="k"),
        },
        run_config={"ops": {"markov_rewrites": {"config": MARKOV}}},
    )
    assert result.success
    assert _query(home, sql, {"d": day}).equals(before)


def test_an_empty_window_fails_with_a_clear_message(window):
    home, _ = window
    d = defs()
    result = dg.materialize(
        [a for a in d.assets if "markov_rewrites" in {k.to_user_string() for k in a.keys}],
        partition_key="2026-10-01",
        resources={
            "duckdb": DuckDBResource(database=str(home / "warehouse.duckdb")),
            "selflearn": SelflearnConfig(home=str(home), raw_root=str(home / "raw"), pseudonym_key="k"),
        },
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    # the window's own day was never ingested: refused before the window is read (a blocked day would be too)
    message = failure.event_specific_data.error.message
    assert "2026-10-01 has not been ingested: materialize clean_turns for 2026-10-01 first" in message


def test_markov_run_config_is_the_miner_params_with_their_defaults():
    from dataclasses import fields

    from selflearn_assets.defs.rewrites.assets import MarkovConfig
    from selflearn_assets.lib.markov import MarkovParams

    assert MarkovConfig().params() == MarkovParams()
    solver = {"dense_max", "lu_max", "quadrature_nodes"}
    assert set(MarkovConfig.model_fields) == {f.name for f in fields(MarkovParams)} - solver
    assert MarkovConfig(**MARKOV).params().min_users == 3
