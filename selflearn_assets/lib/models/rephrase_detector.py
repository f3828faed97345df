"""The contextual rephrase detector's former single module, kept as a facade: its code now lives in
`rephrase_features` (the token sequence and the pairs), `rephrase_model` (settings, networks, training,
prediction) and `rephrase_evaluation` (P/R/F1 against gold).

Champions registered before the split are pickles that name this module's `ContRephModel` and
`RephraseConfig`; the names below keep them loadable. New code imports from the modules above.
"""

from selflearn_assets.lib.models.rephrase_evaluation import (
    evaluate_against_gold,
    flat_metrics,
    pair_prf,
    score_pairs,
)
from selflearn_assets.lib.models.rephrase_features import (
    N_PAIR_FEATURES,
    STATUSES,
    Encoded,
    SequenceEncoder,
    collate,
    meta_index,
    token_table,
    with_token_vectors,
)
from selflearn_assets.lib.models.rephrase_model import (
    MASKED,
    ContRephModel,
    PairwiseRephraseModel,
    RephraseConfig,
    SpanPrediction,
    config_params,
    decode,
    make_model_scorer,
    pair_loss,
    predict_pairwise,
    predict_spans,
    span_loss,
    split_examples,
    train_pairwise_baseline,
    train_rephrase_detector,
    training_examples,
)

__all__ = [
    "MASKED",
    "N_PAIR_FEATURES",
    "STATUSES",
    "ContRephModel",
    "Encoded",
    "PairwiseRephraseModel",
    "RephraseConfig",
    "SequenceEncoder",
    "SpanPrediction",
    "collate",
    "config_params",
    "decode",
    "evaluate_against_gold",
    "flat_metrics",
    "make_model_scorer",
    "meta_index",
    "pair_loss",
    "pair_prf",
    "predict_pairwise",
    "predict_spans",
    "score_pairs",
    "span_loss",
    "split_examples",
    "token_table",
    "train_pairwise_baseline",
    "train_rephrase_detector",
    "training_examples",
    "with_token_vectors",
]
