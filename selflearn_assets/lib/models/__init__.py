"""Models of the platform (no Dagster here): the turn encoder, MLflow tracking and the label-generation model.

Modules: `encoder` (local Hugging Face encoders, tiny test encoders, cached embeddings), `tracking` (MLflow
runs, figures, models, champion promotion), `label_data` (training/eval frames from DuckDB: features, weak,
gold and annotator labels), `label_features` (vocabularies and tensors), `label_slots` (slot candidates the
model chooses from), `label_model` (the dialogue Transformer, its baseline and training), `label_eval` (turn
labels, evaluation against gold).
"""

from selflearn_assets.lib.models.encoder import (
    EncoderNotFound,
    TurnEmbedder,
    embed_texts,
    load_encoder,
    tiny_encoder,
)
from selflearn_assets.lib.models.label_data import WeakLabelParams, load_label_frames
from selflearn_assets.lib.models.label_eval import evaluate_against_gold, predict_turn_labels
from selflearn_assets.lib.models.label_model import LabelModel, LabelModelConfig, train_label_model

__all__ = [
    "EncoderNotFound",
    "LabelModel",
    "LabelModelConfig",
    "TurnEmbedder",
    "WeakLabelParams",
    "embed_texts",
    "evaluate_against_gold",
    "load_encoder",
    "load_label_frames",
    "predict_turn_labels",
    "tiny_encoder",
    "train_label_model",
]
