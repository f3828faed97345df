"""rephrase_model → rephrase_candidates → markov_transitions through Dagster, on a small simulated day and a
tiny encoder: the champion's score enters the candidates (and so the Markov graph) only when one exists."""

from datetime import date

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource
from mlflow.tracking import MlflowClient

from selflearn_assets.definitions import defs
from selflearn_assets.defs.models.rephrase import rephrase_model
from selflearn_assets.defs.resources import EncoderConfig, MLflowResource, SelflearnConfig
from selflearn_assets.defs.signals.assets import defect_signals, markov_transitions, rephrase_candidates
from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.models.rephrase_training import MODEL_NAME
from selflearn_assets.runner import plan_stages

DAY = date(2026, 11, 2)
TRAINING = {"epochs": 3, "d_model": 32, "layers": 1, "max_sessions": 200}
SIGNALS = [defect_signals, rephrase_candidates, markov_transitions]


def _resources(home, encoder_dir) -> dict:
    return {
        "duckdb": DuckDBResource(database=str(home / "warehouse.duckdb")),
        "selflearn": SelflearnConfig(home=str(home), raw_root=str(home / "raw"), pseudonym_key="k"),
        "mlflow": MLflowResource(home=str(home)),
        "encoder": EncoderConfig(path=str(encoder_dir)),
    }


def _query(home, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def _candidates(home) -> list[tuple]:
    return _query(
        home,
        "SELECT first_event_id, second_event_id, heuristic_score, model_score, score "
        "FROM signals.rephrase_candidates WHERE day = ? ORDER BY 1, 2",
        [DAY],
    )


def _signals(home, resources, use_model: bool = True) -> dg.MaterializeResult:
    result = dg.materialize(
        SIGNALS,
        partition_key=DAY.isoformat(),
        resources=resources,
        run_config={"ops": {"rephrase_candidates": {"config": {"use_model": use_model}}}},
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("rephrase_candidates")
    return materialization.metadata


@pytest.fixture
def ingested_day(ingest_day_with_encoder):
    """A simulated day (150 users, half of the sessions audited) ingested, and a tiny random encoder over
    its words; the encoder's directory."""
    return ingest_day_with_encoder(DAY, users=150)


def test_champion_score_enters_rephrase_candidates_and_markov(selflearn_home, ingested_day):
    resources = _resources(selflearn_home, ingested_day)
    # no champion yet: the heuristic alone, as before the detector existed; no MLflow store is created
    before = _signals(selflearn_home, resources)
    assert before["scored_by"].value == "heuristic" and "rephrase_model_version" not in before
    heuristic = _candidates(selflearn_home)
    assert heuristic and all(m is None and s == h for _, _, h, m, s in heuristic)
    assert not (selflearn_home / "mlflow").exists()
    transitions_before = _query(selflearn_home, "SELECT * FROM signals.markov_transitions ORDER BY ALL")

    trained = dg.materialize(
        [rephrase_model], resources=resources, run_config={"ops": {"rephrase_model": {"config": TRAINING}}}
    )
    assert trained.success
    (materialization,) = trained.asset_materializations_for_node("rephrase_model")
    meta = materialization.metadata
    run_id = meta["mlflow_run_id"].value
    assert meta["mlflow_run"].value.endswith(f"/runs/{run_id}")
    assert meta["registered_version"].value == "1" and meta["promoted_to_champion"].value is True
    assert meta["gold_pairs"].value > 0 and "audit holdout" in meta["eval_set"].value
    for key in ("f1", "precision", "recall", "baseline_f1", "baseline_precision", "baseline_recall"):
        assert 0.0 <= meta[key].value <= 1.0
    assert (
        "| ContReph |" in meta["quality_vs_gold"].value
        and "| pairwise baseline |" in meta["quality_vs_gold"].value
    )
    tracking.configure(selflearn_home)
    client = MlflowClient()
    run = client.get_run(run_id)
    assert (
        run.data.tags["dagster.run_id"] == trained.run_id
        and run.data.tags["dagster.asset"] == "rephrase_model"
    )
    assert (
        run.data.tags["dagster.partition"] == "unpartitioned"
        and run.data.tags["data_window"] == f"{DAY}..{DAY}"
    )
    assert run.data.params["encoder"] == str(ingested_day) and run.data.params["d_model"] == "32"
    assert str(client.get_model_version_by_alias(MODEL_NAME, tracking.CHAMPION).version) == "1"

    # with the champion: its probability is model_score, and score (what the Markov chains use) follows it
    after = _signals(selflearn_home, resources)
    assert after["scored_by"].value == "model" and after["rephrase_model_version"].value == "1"
    scored = _candidates(selflearn_home)
    assert [r[:3] for r in scored] == [r[:3] for r in heuristic]  # same pairs, same heuristic
    model_scores = [m for _, _, _, m, _ in scored if m is not None]
    assert len(model_scores) > 0.9 * len(scored) and all(0.0 <= m <= 1.0 for m in model_scores)
    assert all(s == (h if m is None else m) for _, _, h, m, s in scored)
    assert len(set(model_scores)) > 1
    transitions = _query(selflearn_home, "SELECT * FROM signals.markov_transitions ORDER BY ALL")
    assert transitions and transitions != transitions_before  # the graph is built from the model's links

    # the scorer encodes through the shared embedding store (where the label models look): the day's
    # utterances are there, and scoring the day again encodes nothing (no new shard)
    shards = sorted((selflearn_home / "embeddings").glob("*/*.parquet"))
    stored = {
        t for (t,) in duckdb.sql(f"SELECT text FROM read_parquet({[str(p) for p in shards]})").fetchall()
    }
    said = {
        t
        for (t,) in _query(
            selflearn_home, "SELECT DISTINCT asr_text FROM ingest.clean_turns WHERE day = ?", [DAY]
        )
    }
    assert shards and len(said & stored) > 0.5 * len(said)
    assert _signals(selflearn_home, resources)["scored_by"].value == "model"
    assert sorted((selflearn_home / "embeddings").glob("*/*.parquet")) == shards

    # switched off by run config: back to exactly the heuristic tables
    off = _signals(selflearn_home, resources, use_model=False)
    assert off["scored_by"].value == "heuristic"
    assert _candidates(selflearn_home) == heuristic
    assert (
        _query(selflearn_home, "SELECT * FROM signals.markov_transitions ORDER BY ALL") == transitions_before
    )


def test_rephrase_model_trains_before_the_candidates_it_scores(selflearn_home):
    d = defs()
    graph = d.resolve_asset_graph()
    model, candidates = dg.AssetKey("rephrase_model"), dg.AssetKey("rephrase_candidates")
    assert graph.get(model).group_name == "models" and graph.get(model).partitions_def is None
    assert model in graph.get(candidates).parent_keys
    stages = plan_stages(d.resolve_asset_graph())
    where = {k: i for i, stage in enumerate(stages) for k in stage.keys}
    assert where[model] < where[candidates] and not stages[where[model]].daily
    assert where[dg.AssetKey("clean_turns")] < where[model]
    assert {dg.AssetKey("clean_turns"), dg.AssetKey("annotations")} <= graph.get(model).parent_keys
