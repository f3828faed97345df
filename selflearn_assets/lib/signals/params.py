"""Parameters of the signals stage, with the documented defaults.

Defect combination (`defect_prob`)
----------------------------------
A logistic model over the binary signals: ``defect_prob = sigmoid(bias + sum_i w_i * x_i)`` where a signal
that is NULL (its field absent from the logs) counts as ``x_i = 0``. The default weights are a single-cue
prior: ``bias = logit(base_defect_prob)`` and ``w_i = logit(q_i) - bias``, so a turn on which only signal i
fired gets exactly ``q_i`` (the table below), a turn with no signal gets ``base_defect_prob``, and
independent signals add in log-odds (naive-Bayes style). Unlike a noisy-OR this admits negative evidence
(explicit positive feedback) and is the same family the calibration fits: with gold annotations the weights
are the MAP estimate of a logistic regression with a Gaussian prior centred on these defaults
(``calibration_l2`` is its precision), so little gold moves them little.

| signal               | q_i  |   | signal               | q_i  |
|----------------------|------|---|----------------------|------|
| barge_in             | 0.60 |   | abandoned            | 0.60 |
| response_error       | 0.85 |   | followed_by_similar  | 0.55 |
| response_unsupported | 0.75 |   | low_asr_confidence   | 0.30 |
| response_no_response | 0.75 |   | low_nlu_confidence   | 0.25 |
| response_clarify     | 0.35 |   | low_wake_score       | 0.40 |
| explicit_negative    | 0.90 |   | er_unresolved        | 0.50 |
| explicit_positive    | 0.01 |   | (no signal)          | 0.05 |

Rephrase heuristic (`heuristic_score`)
--------------------------------------
``sigmoid(intercept + sum_k v_k * f_k)`` over the pair features, with ``second_success`` entering as
``1 - second_defect_prob``, ``interpretation_changed`` as 0/1 (NULL = 0) and ``extra_turn_distance`` as
``turn_distance - 1``; the weights are `DEFAULT_REPHRASE_WEIGHTS`. A reformulation 4 s after
an error that then succeeds ("play maj and dragons" -> "play imagine dragons") scores 0.86; an unrelated
follow-up after a success about 0.01.

Learned rephrase detector (`model_score`)
-----------------------------------------
When the `rephrase_model` champion (ContReph, `lib/models/rephrase_detector.py`) scores a pair, its
P(second | first) becomes `model_score`, and the pair's `score` (what the gold report and the Markov chains
threshold at `rephrase_threshold`) is ``w * model_score + (1 - w) * heuristic_score`` with
``w = rephrase_model_weight`` (default 1: the model's probability replaces the heuristic; a pair the model has
no opinion on, e.g. outside its window, keeps ``heuristic_score``). Without a champion, `score` is
`heuristic_score`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# Binary defect signals of signals.defect_signals, in the order of the model's weight vector.
DEFECT_SIGNALS: tuple[str, ...] = (
    "barge_in",
    "response_error",
    "response_unsupported",
    "response_no_response",
    "response_clarify",
    "explicit_negative",
    "explicit_positive",
    "abandoned",
    "followed_by_similar",
    "low_asr_confidence",
    "low_nlu_confidence",
    "low_wake_score",
    "er_unresolved",
)

DEFAULT_SIGNAL_DEFECT_PROBS: Mapping[str, float] = MappingProxyType(
    {
        "barge_in": 0.60,
        "response_error": 0.85,
        "response_unsupported": 0.75,
        "response_no_response": 0.75,
        "response_clarify": 0.35,
        "explicit_negative": 0.90,
        "explicit_positive": 0.01,
        "abandoned": 0.60,
        "followed_by_similar": 0.55,
        "low_asr_confidence": 0.30,
        "low_nlu_confidence": 0.25,
        "low_wake_score": 0.40,
        "er_unresolved": 0.50,
    }
)

DEFAULT_REPHRASE_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "intercept": -5.0,
        "token_jaccard": 2.0,
        "edit_similarity": 1.5,
        "phonetic_similarity": 1.5,
        "first_defect_prob": 3.0,
        "second_success": 1.0,
        "interpretation_changed": 0.5,
        "time_gap_s": -0.03,
        "extra_turn_distance": -0.5,
    }
)


@dataclass(frozen=True)
class SignalParams:
    """Thresholds and weights of defect_signals, rephrase_candidates and markov_transitions."""

    # defect_signals
    abandon_gap_s: float = 60.0  # no request within this long after a non-success response = abandoned
    similar_gap_s: float = 45.0  # "followed by a similar request" window (request starts) ...
    similar_max_turn_distance: int = 3  # ... and turn distance
    similar_threshold: float = 0.6  # lexical similarity = max(token Jaccard, edit similarity)
    low_asr_confidence: float = 0.5
    low_nlu_confidence: float = 0.5
    low_wake_score: float = 0.5
    base_defect_prob: float = 0.05
    signal_defect_probs: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_SIGNAL_DEFECT_PROBS)
    )
    # calibration on gold annotations
    calibration_window_days: int = 7  # gold of [day - window + 1, day] is used
    min_gold_turns: int = 30  # fewer gold turns (or one class only): no fit, the previous model is used
    calibration_l2: float = 1.0  # precision of the Gaussian prior on the weights, centred on the defaults
    calibration_folds: int = 5  # grouped-by-session cross-validation of the "after" metrics
    calibration_bins: int = 10  # equal-width bins of the ECE and the reliability table
    # rephrase_candidates
    rephrase_max_gap_s: float = 45.0
    rephrase_max_turn_distance: int = 3
    rephrase_threshold: float = 0.5  # score >= threshold is a rephrase (gold report, Markov chains)
    rephrase_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_REPHRASE_WEIGHTS))
    rephrase_model_weight: float = 1.0  # score = w * model_score + (1 - w) * heuristic where a model scored
    # markov_transitions
    failure_threshold: float = 0.5  # a chain's last turn with defect_prob >= this goes to __FAILURE__
