"""`tracking`: champion helpers (re-scoring the champion by the caller's metric, registering and promoting),
and what the MLflow UI shows: normalised confusion matrices, child runs, datasets, signatures, descriptions."""

import hashlib
import json
from datetime import date

import mlflow
import numpy as np
import polars as pl
import torch
from mlflow.tracking import MlflowClient
from torch import nn

from selflearn_assets.lib.models import tracking


def _score(value: float):
    return lambda champion: value if isinstance(champion, nn.Linear) else None


def test_a_run_is_promoted_only_when_it_beats_the_rescored_champion(tmp_path):
    tracking.configure(tmp_path, "tiny")
    assert tracking.rescore_champion("tiny", _score(1.0)) is None  # no champion yet
    summaries = []
    for value in (0.5, 0.4):
        with tracking.start_run("tiny") as run:
            tracking.log_torch_model(nn.Linear(2, 1))
            champion_now = tracking.rescore_champion("tiny", _score(0.45))
            summaries.append(
                tracking.register_run_model(run, "tiny", "f1", value, "set A", champion_value=champion_now)
            )
    first, second = summaries
    assert (first["version"], first["promoted"], first["previous_champion"]) == ("1", True, None)
    assert (second["version"], second["promoted"], second["previous_champion"]) == ("2", False, 0.45)
    assert second["eval_set"] == "set A" and second["run_id"] != first["run_id"]
    tags = MlflowClient().get_run(second["run_id"]).data.tags
    assert tags["registered_version"] == "2" and tags["promoted"] == "false"
    assert str(tracking.champion_version("tiny").version) == "1"
    assert isinstance(tracking.load_champion("tiny"), nn.Linear)


def test_a_champion_that_no_longer_fits_scores_none(tmp_path):
    tracking.configure(tmp_path, "tiny")
    with tracking.start_run("tiny") as run:
        tracking.log_torch_model(nn.Linear(2, 1))
        tracking.register_run_model(run, "tiny", "f1", 0.5, "set A", champion_value=None)

    def broken(champion):
        raise ValueError("the features changed")

    assert tracking.rescore_champion("tiny", broken) is None
    assert tracking.rescore_champion("tiny", lambda champion: None) is None
    assert tracking.rescore_champion("tiny", _score(0.7)) == 0.7


def test_a_registered_version_links_back_to_the_dagster_asset_that_trained_it(tmp_path):
    """The run's `dagster.*` tags (as the model assets set them) land on the version, and its description
    links to the asset's and the run's pages in the Dagster UI; other run tags stay on the run."""
    tracking.configure(tmp_path, "tiny")
    tags = {
        "dagster.run_id": "0123456789abcdef",
        "dagster.asset": "label_model",
        "dagster.partition": "unpartitioned",
        "dagster.asset_url": "http://dagster.example:3001/assets/label_model",
        "dagster.run_url": "http://dagster.example:3001/runs/0123456789abcdef",
        "data_window": "2026-11-01..2026-11-03",
    }
    with tracking.start_run("tiny", tags=tags) as run:
        tracking.log_torch_model(nn.Linear(2, 1))
        tracking.register_run_model(run, "tiny", "f1", 0.5, "set A", champion_value=None)
    champion = tracking.champion_version("tiny")
    assert {k: v for k, v in champion.tags.items() if k.startswith("dagster.")} == {
        k: v for k, v in tags.items() if k != "data_window"
    }
    assert "data_window" not in champion.tags and champion.tags["eval.set"] == "set A"
    assert champion.description == (
        "Trained by the Dagster asset [label_model](http://dagster.example:3001/assets/label_model), "
        "run [01234567](http://dagster.example:3001/runs/0123456789abcdef)."
    )


def test_a_run_without_dagster_tags_registers_a_version_without_a_link(tmp_path):
    tracking.configure(tmp_path, "tiny")
    with tracking.start_run("tiny", tags={"data_window": "2026-11-01..2026-11-01"}) as run:
        tracking.log_torch_model(nn.Linear(2, 1))
        tracking.register_run_model(run, "tiny", "f1", 0.5, "set A", champion_value=None)
    champion = tracking.champion_version("tiny")
    assert not [k for k in champion.tags if k.startswith("dagster.")]
    assert not champion.description


# What the MLflow UI shows scientists: normalised confusion matrices, child runs, datasets, descriptions.


def test_confusion_rows_are_shares_of_the_gold_class():
    """3 classes by hand: gold a = 3 right + 1 as b; gold b never occurs; gold c = 2 as a, 2 as b, 4 right."""
    matrix = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    expected = np.array([[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5]])
    assert np.allclose(tracking.normalised_confusion(matrix), expected)
    # every class takes part in an error (b only as a prediction); capped at 2: c (4 errors), then a (3)
    assert tracking.confused_classes(matrix) == [0, 1, 2]
    assert tracking.confused_classes(matrix, top_n=2) == [0, 2]
    # no error at all: every class is shown
    assert tracking.confused_classes(np.diag([5, 1, 2])) == [0, 1, 2]


def test_confusion_figure_shows_the_classes_with_errors_their_shares_and_counts():
    # d is always right and never predicted for another class: left out of the figure
    matrix = np.array([[3, 1, 0, 0], [0, 0, 0, 0], [2, 2, 4, 0], [0, 0, 0, 9]])
    figure = tracking.confusion_figure(["a", "b", "c", "d"], matrix, "intent", top_n=15)
    axes = figure.axes[0]
    shown = np.asarray(axes.images[0].get_array())
    assert np.allclose(shown, [[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5]])
    assert [t.get_text() for t in axes.get_yticklabels()] == ["a", "b", "c"]
    assert sorted(int(t.get_text()) for t in axes.texts) == [1, 2, 2, 3, 4]  # the non-zero counts
    assert axes.get_title() == "intent (3 of 4 classes: those with errors)"
    assert len(figure.axes) == 2  # the colour bar
    capped = tracking.confusion_figure(["a", "b", "c", "d"], matrix, "intent", top_n=2)
    assert capped.axes[0].get_title() == "intent (2 of 4 classes: the most confused)"
    assert [t.get_text() for t in capped.axes[0].get_yticklabels()] == ["a", "c"]
    assert axes.images[0].get_clim() == (0.0, 1.0)


def test_run_name_is_the_model_and_its_window():
    days = [date(2026, 11, 3), date(2026, 11, 1), date(2026, 11, 2)]
    assert tracking.run_name("label-model", days) == "label-model 2026-11-01..2026-11-03"
    assert tracking.day_window(["2026-11-02"]) == "2026-11-02..2026-11-02"


def _turns() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "day": [date(2026, 11, 1), date(2026, 11, 1), date(2026, 11, 2)],
            "session_id": ["s1", "s1", "s2"],
            "event_id": ["e1", "e2", "e3"],
            "utterance": ["play jazz", "louder", "weather"],  # never goes into MLflow
            "gold_intent": ["music.play", None, "weather.get"],
        }
    )


def test_a_turn_dataset_holds_ids_counts_and_a_digest_of_the_turns_not_their_texts():
    source = tracking.WarehouseSource(
        "/w/warehouse.duckdb", ["ingest.clean_turns"], "q.sql", "2026-11-01..2026-11-02"
    )
    dataset = tracking.turn_dataset(_turns(), "toy training", source, pl.col("gold_intent").is_not_null())
    assert dataset.df.columns == ["day", "session_id", "event_id", "gold"]
    assert dataset.profile == {
        "num_rows": 3, "num_elements": 12, "turns": 3, "sessions": 2, "gold_turns": 2, "days": 2,
        "window": "2026-11-01..2026-11-02",
    }  # fmt: skip
    # the digest is the turn set's: the same ids in another order give the same one, another set another
    assert dataset.digest == tracking.turn_ids_digest(["e3", "e1", "e2"]) != tracking.turn_ids_digest(["e1"])
    assert dataset.digest == hashlib.sha256(b"e1\ne2\ne3").hexdigest()[:16]


def test_child_runs_share_the_parent_metric_names_tags_and_datasets(tmp_path):
    """A model run with two baselines as nested child runs: the UI lists them under the model's run, and
    Compare shows the same metric names side by side; datasets and descriptions come back from the store."""
    tracking.configure(tmp_path, "tiny", description="A tiny model for tests.")
    tags = {"dagster.run_id": "r1", "data_window": "2026-11-01..2026-11-02"}
    source = tracking.WarehouseSource(
        str(tmp_path / "warehouse.duckdb"), ["ingest.clean_turns", "ingest.turn_annotations"], "q.sql",
        "2026-11-01..2026-11-02",
    )  # fmt: skip
    gold = pl.col("gold_intent").is_not_null()
    turns = _turns()
    datasets = {
        "training": tracking.turn_dataset(turns.head(2), "tiny training", source, gold),
        "evaluation": tracking.turn_dataset(turns.tail(1), "tiny evaluation", source, gold),
    }
    name = tracking.run_name("tiny", turns["day"])
    with tracking.start_run("tiny", tags=tags, run_name=name, description="the model") as run:
        tracking.log_datasets(datasets)
        mlflow.log_metrics({"intent_accuracy": 0.9, "macro_f1": 0.8})
        child_id = tracking.log_child_run(
            "tiny baseline: majority", {"intent_accuracy": 0.5, "macro_f1": 0.2}, baseline="majority",
            tags=tags, params={"majority_class": "music.play"}, description="always music.play",
            history=[{"train_loss": 1.0}, {"train_loss": 0.5}], datasets={"evaluation": datasets["evaluation"]},
        )  # fmt: skip
        tracking.log_torch_model(nn.Linear(2, 1))
        tracking.register_run_model(
            run, "tiny", "f1", 0.5, "set A", champion_value=None, model_description="Tiny: for tests."
        )
    client = MlflowClient()
    parent, child = client.get_run(run.info.run_id), client.get_run(child_id)
    assert (
        parent.info.run_name == "tiny 2026-11-01..2026-11-02"
        and child.info.run_name == "tiny baseline: majority"
    )
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child.info.experiment_id == parent.info.experiment_id and child.info.status == "FINISHED"
    assert {k: child.data.tags[k] for k in tags} == tags and child.data.tags[
        tracking.BASELINE_TAG
    ] == "majority"
    assert child.data.tags[tracking.NOTE_TAG] == "always music.play"
    assert parent.data.tags[tracking.NOTE_TAG] == "the model"
    assert (
        set(child.data.metrics) - {"train_loss"}
        == set(parent.data.metrics)
        == {"intent_accuracy", "macro_f1"}
    )
    assert child.data.metrics["macro_f1"] == 0.2 and child.data.params == {"majority_class": "music.play"}
    assert [m.value for m in client.get_metric_history(child_id, "train_loss")] == [1.0, 0.5]
    # the parent's run carries both datasets, the child only the evaluation one (same name and digest)
    inputs = {
        i.tags[0].value: i.dataset
        for i in parent.inputs.dataset_inputs
        if i.tags[0].key == "mlflow.data.context"
    }
    assert set(inputs) == {"training", "evaluation"}
    assert inputs["training"].digest == tracking.turn_ids_digest(["e1", "e2"])
    assert json.loads(inputs["evaluation"].profile)["gold_turns"] == 1
    (child_input,) = child.inputs.dataset_inputs
    assert (child_input.dataset.name, child_input.dataset.digest) == (
        "tiny evaluation",
        inputs["evaluation"].digest,
    )
    assert mlflow.data.get_source(inputs["training"]).to_dict() == source.to_dict()
    assert (
        client.get_experiment(parent.info.experiment_id).tags[tracking.NOTE_TAG] == "A tiny model for tests."
    )
    assert client.get_registered_model("tiny").description == "Tiny: for tests."
    # a newer description replaces the experiment's
    tracking.configure(tmp_path, "tiny", description="Tiny, described again.")
    assert (
        client.get_experiment(parent.info.experiment_id).tags[tracking.NOTE_TAG] == "Tiny, described again."
    )


def test_torch_signature_names_the_tensors_with_their_variable_dims_free():
    inputs = {
        "text": torch.zeros(4, 7, 3),
        "mask": torch.ones(4, 7, dtype=torch.bool),
        "cand": torch.zeros(5, 2),
    }
    outputs = {"logits": torch.zeros(4, 7, 6)}
    signature = tracking.torch_signature(inputs, outputs, lambda name: 1 if name == "cand" else 2)
    specs = {s.name: (s.type, s.shape) for s in signature.inputs.inputs}
    assert specs == {
        "text": (np.dtype("float32"), (-1, -1, 3)),
        "mask": (np.dtype("bool"), (-1, -1)),
        "cand": (np.dtype("float32"), (-1, 2)),
    }
    assert [(s.name, s.shape) for s in signature.outputs.inputs] == [("logits", (-1, -1, 6))]
    batch = tracking.RecordingBatch(inputs)
    _ = batch["mask"], batch["text"], batch["mask"]
    assert batch.read == ["mask", "text"]


def test_logging_and_registering_a_model_prints_no_warning_but_others_still_pass(tmp_path):
    """The version is registered from the logged model's own URI (no 'no artifacts at artifact path' warning
    from MLflow 3) and the notice about pickled models, chosen on purpose, is dropped; any other warning of
    mlflow.pytorch still reaches its handlers."""
    import logging

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(level=logging.WARNING)
    loggers = [logging.getLogger("mlflow")]  # every mlflow.* logger propagates to it
    for logger in loggers:
        logger.addHandler(keep)
    try:
        tracking.configure(tmp_path, "tiny")
        with tracking.start_run("tiny") as run:
            logged = tracking.log_torch_model(nn.Linear(2, 1))
            summary = tracking.register_run_model(
                run, "tiny", "f1", 0.5, "set A", champion_value=None, model_uri=logged.model_uri
            )
        logging.getLogger("mlflow.pytorch").warning("another warning")
    finally:
        for logger in loggers:
            logger.removeHandler(keep)
    messages = [r.getMessage() for r in records]
    assert messages == ["another warning"], messages
    version = MlflowClient().get_model_version("tiny", summary["version"])
    assert version.source == logged.model_uri and version.run_id == run.info.run_id
