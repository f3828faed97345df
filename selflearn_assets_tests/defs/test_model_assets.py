"""Model assets through Dagster on a small simulated day and a tiny encoder: label_model → turn_labels and failure_point_model → failure_points, with their blocking checks."""

from datetime import date

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource
from mlflow.tracking import MlflowClient

from selflearn_assets.defs.labels import assets as labels_assets
from selflearn_assets.defs.labels import failure_points as fp_labels
from selflearn_assets.defs.labels.assets import turn_labels
from selflearn_assets.defs.labels.checks import turn_labels_cover_every_turn
from selflearn_assets.defs.labels.failure_points import failure_points, failure_points_cover_every_turn
from selflearn_assets.defs.models.assets import label_model
from selflearn_assets.defs.models.failure_point import failure_point_model
from selflearn_assets.defs.resources import EncoderConfig, MLflowResource, SelflearnConfig
from selflearn_assets.lib.labels import failure_points_in_chunks, turn_labels_in_chunks
from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.models.failure_point_data import CLASSES as FAILURE_CLASSES
from selflearn_assets.lib.models.label_training import MODEL_NAME

DAY = date(2026, 11, 2)
# a small model and few sessions: the point is the wiring, not the quality
TRAINING = {"epochs": 3, "pretrain_epochs": 1, "d_model": 32, "layers": 1, "max_sessions": 150}
CONFIDENCES = ("goal_start_confidence", "goal_success_confidence", "intent_confidence", "slots_confidence")


def _resources(home, encoder_dir=None) -> dict:
    return {
        "duckdb": DuckDBResource(database=str(home / "warehouse.duckdb")),
        "selflearn": SelflearnConfig(home=str(home), raw_root=str(home / "raw"), pseudonym_key="k"),
        "mlflow": MLflowResource(home=str(home)),
        "encoder": EncoderConfig(path=str(encoder_dir or home / "no-encoder")),
    }


def _query(home, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, params).fetchall()


@pytest.fixture
def ingested_day(ingest_day_with_encoder):
    """A simulated day (120 users, half of the sessions audited) ingested, and a tiny random encoder over
    its words; the encoder's directory."""
    return ingest_day_with_encoder(DAY, users=120)


def test_label_model_then_turn_labels(selflearn_home, ingested_day, monkeypatch):
    resources = _resources(selflearn_home, ingested_day)
    trained = dg.materialize(
        [label_model], resources=resources, run_config={"ops": {"label_model": {"config": TRAINING}}}
    )
    assert trained.success
    (materialization,) = trained.asset_materializations_for_node("label_model")
    meta = materialization.metadata
    assert meta["registered_version"].value == "1" and meta["promoted_to_champion"].value is True
    run_id = meta["mlflow_run_id"].value
    assert meta["mlflow_run"].value.endswith(f"/runs/{run_id}")
    assert 0 < meta["macro_accuracy"].value <= 1 and "audit holdout" in meta["eval_set"].value
    # one meaning of epochs in Dagster and MLflow: `epochs` = the configured maximum of supervised epochs,
    # `epochs_run` = those run before early stopping, after the `pretrain_epochs`
    assert (
        meta["epochs"].value == TRAINING["epochs"]
        and meta["pretrain_epochs"].value == TRAINING["pretrain_epochs"]
    )
    assert 1 <= meta["epochs_run"].value <= TRAINING["epochs"]
    assert "| intent |" in meta["quality_vs_gold"].value

    tracking.configure(selflearn_home)
    client = MlflowClient()
    run = client.get_run(run_id)
    assert (
        run.data.tags["dagster.run_id"] == trained.run_id and run.data.tags["dagster.asset"] == "label_model"
    )
    assert run.data.tags["data_window"] == f"{DAY}..{DAY}"
    assert run.data.params["encoder"] == str(ingested_day) and run.data.params["d_model"] == "32"
    assert str(client.get_model_version_by_alias(MODEL_NAME, tracking.CHAMPION).version) == "1"
    assert run.data.params["epochs"] == str(meta["epochs"].value)
    assert run.data.params["pretrain_epochs"] == str(meta["pretrain_epochs"].value)
    assert run.data.metrics["epochs_run"] == meta["epochs_run"].value
    assert len(client.get_metric_history(run_id, "val_loss")) == meta["epochs_run"].value
    assert run.info.run_name == f"label-model {DAY}..{DAY}"

    labelled = dg.materialize(  # in chunks of about 100 turns, streamed into the day's partition
        [turn_labels, turn_labels_cover_every_turn],
        partition_key=DAY.isoformat(),
        resources=resources,
        run_config={"ops": {"turn_labels": {"config": {"chunk_turns": 100}}}},
    )
    assert labelled.success
    (check,) = labelled.get_asset_check_evaluations()
    assert check.check_name == "turn_labels_cover_every_turn" and check.passed
    assert check.metadata["turns_without_labels"].value == 0 and check.metadata["duplicates"].value == 0

    turns, labels, distinct, missing = _query(
        selflearn_home,
        """
        SELECT (SELECT count(*) FROM ingest.clean_turns WHERE day = $day),
               (SELECT count(*) FROM labels.turn_labels WHERE day = $day),
               (SELECT count(DISTINCT event_id) FROM labels.turn_labels WHERE day = $day),
               (SELECT count(*) FROM ingest.clean_turns t WHERE t.day = $day AND t.event_id NOT IN
                   (SELECT event_id FROM labels.turn_labels WHERE day = $day))
        """,
        {"day": DAY},
    )[0]
    assert turns > 300 and labels == distinct == turns and missing == 0
    bounds = ", ".join(f"min({c}), max({c})" for c in CONFIDENCES)
    (row,) = _query(selflearn_home, f"SELECT {bounds} FROM labels.turn_labels")
    assert all(0.0 <= v <= 1.0 for v in row), row  # min and max of each confidence
    assert _query(selflearn_home, "SELECT DISTINCT model_version FROM labels.turn_labels") == [("1",)]
    assert _query(selflearn_home, "SELECT bool_and(goal_id >= 1) FROM labels.turn_labels")[0][0] is True
    # the day is one Parquet partition in the lake beside the warehouse, which reads it through a view
    partition = selflearn_home / "lake" / "labels" / "turn_labels" / f"date={DAY}" / "data.parquet"
    assert pl.read_parquet(partition).height == turns
    kind = "SELECT table_type FROM information_schema.tables WHERE table_name = 'turn_labels'"
    assert _query(selflearn_home, kind) == [("VIEW",)]

    (materialization,) = labelled.asset_materializations_for_node("turn_labels")
    assert materialization.metadata["dagster/row_count"].value == turns
    assert materialization.metadata["model_version"].value == "1"
    (rate,) = _query(selflearn_home, "SELECT avg(goal_success::DOUBLE) FROM labels.turn_labels")[0]
    assert materialization.metadata["goal_success_rate"].value == pytest.approx(rate, abs=5e-4)

    # a labelling that skips a turn is caught by the blocking check
    monkeypatch.setattr(
        labels_assets,
        "turn_labels_in_chunks",
        lambda *args: (c.slice(1) for c in turn_labels_in_chunks(*args)),
    )
    relabelled = dg.materialize(
        [turn_labels, turn_labels_cover_every_turn],
        partition_key=DAY.isoformat(),
        resources=resources,
        raise_on_error=False,
    )
    (check,) = relabelled.get_asset_check_evaluations()
    assert not check.passed and check.metadata["turns_without_labels"].value == 1


def test_turn_labels_without_a_champion_fails_with_a_clear_message(selflearn_home):
    result = dg.materialize(
        [turn_labels],
        partition_key=DAY.isoformat(),
        resources=_resources(selflearn_home),
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "materialize label_model first" in failure.event_specific_data.error.message


def test_label_model_without_ingested_turns_fails_with_a_clear_message(selflearn_home):
    """Launching `model_training` on a fresh warehouse (before any ingest) says what to do."""
    result = dg.materialize([label_model], resources=_resources(selflearn_home), raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "materialize clean_turns for some days first" in failure.event_specific_data.error.message


def test_failure_point_model_then_failure_points(selflearn_home, ingested_day, monkeypatch):
    resources = _resources(selflearn_home, ingested_day)
    config = {"epochs": 4, "patience": 4, "d_model": 32, "layers": 1, "weak_weight": 0.3}
    trained = dg.materialize(
        [failure_point_model],
        resources=resources,
        run_config={"ops": {"failure_point_model": {"config": config}}},
    )
    assert trained.success
    (materialization,) = trained.asset_materializations_for_node("failure_point_model")
    meta = materialization.metadata
    assert meta["registered_version"].value == "1" and meta["promoted_to_champion"].value is True
    assert meta["variant"].value in ("gold_only", "with_weak") and "| with_weak |" in meta["variants"].value
    assert 0 < meta["macro_f1"].value <= 1 and meta["eval_turns"].value > 30
    assert "| result |" in meta["per_class_vs_gold"].value
    tracking.configure(selflearn_home)
    client = MlflowClient()
    run = client.get_run(meta["mlflow_run_id"].value)
    assert meta["epochs"].value == config["epochs"] and run.data.params["epochs"] == str(config["epochs"])
    assert run.data.metrics["epochs_run"] == meta["epochs_run"].value <= config["epochs"]
    assert len(client.get_metric_history(run.info.run_id, "val_macro_f1")) == meta["epochs_run"].value
    assert run.info.run_name == f"failure-point-model {DAY}..{DAY}"

    labelled = dg.materialize(  # in chunks of about 100 turns, streamed into the day's partition
        [failure_points, failure_points_cover_every_turn],
        partition_key=DAY.isoformat(),
        resources=resources,
        run_config={"ops": {"failure_points": {"config": {"chunk_turns": 100}}}},
    )
    assert labelled.success
    (check,) = labelled.get_asset_check_evaluations()
    assert check.passed and check.metadata["bad_probabilities"].value == 0
    turns, rows, distinct, classes = _query(
        selflearn_home,
        """
        SELECT (SELECT count(*) FROM ingest.clean_turns WHERE day = $day),
               count(*), count(DISTINCT event_id), list(DISTINCT failure_point)
        FROM labels.failure_points WHERE day = $day
        """,
        {"day": DAY},
    )[0]
    assert rows == distinct == turns > 300 and set(classes) <= set(FAILURE_CLASSES)
    (out,) = labelled.asset_materializations_for_node("failure_points")
    shares = sum(out.metadata[f"share_{c}"].value for c in FAILURE_CLASSES)
    assert shares == pytest.approx(1.0, abs=0.003)  # six shares, each rounded to 3 decimals for the UI
    assert out.metadata["model_version"].value == "1"
    assert "data:image/png;base64," in out.metadata["failure_mix"].value
    assert "| utterance |" in out.metadata["top_failing_utterances"].value

    # a day labelled twice stays one row per turn (its lake partition replaced), and a dropped row fails the check
    monkeypatch.setattr(
        fp_labels,
        "failure_points_in_chunks",
        lambda *args: (c.slice(1) for c in failure_points_in_chunks(*args)),
    )
    again = dg.materialize(
        [failure_points, failure_points_cover_every_turn],
        partition_key=DAY.isoformat(),
        resources=resources,
        raise_on_error=False,
    )
    (check,) = again.get_asset_check_evaluations()
    assert not check.passed and check.metadata["turns_without_failure_point"].value == 1
    assert _query(selflearn_home, "SELECT count(*) FROM labels.failure_points")[0][0] == turns - 1
