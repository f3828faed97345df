"""Signals stage: per-turn defect signals, rephrase candidates and the Markov transition counts.

Plain Python + DuckDB SQL (`dbt_like_sql/signals/`); each function computes one day of one table of schema
`signals` on the warehouse connection, publishes it as the day's lake partition (`store.py`: the warehouse
reads it through a view) and returns a report dict. Run them in order for a day: `defect_signals` ->
`rephrase_candidates` -> `markov_transitions`.
"""

from selflearn_assets.lib.signals.calibration import DefectModel, calibration_metrics
from selflearn_assets.lib.signals.defects import defect_signals
from selflearn_assets.lib.signals.params import (
    DEFAULT_REPHRASE_WEIGHTS,
    DEFAULT_SIGNAL_DEFECT_PROBS,
    DEFECT_SIGNALS,
    SignalParams,
)
from selflearn_assets.lib.signals.rephrase import ModelScorer, rephrase_candidates
from selflearn_assets.lib.signals.store import ensure_signals_schema, lake_of
from selflearn_assets.lib.signals.transitions import FAILURE, SUCCESS, markov_transitions

__all__ = [
    "DEFAULT_REPHRASE_WEIGHTS",
    "DEFAULT_SIGNAL_DEFECT_PROBS",
    "DEFECT_SIGNALS",
    "FAILURE",
    "SUCCESS",
    "DefectModel",
    "ModelScorer",
    "SignalParams",
    "calibration_metrics",
    "defect_signals",
    "ensure_signals_schema",
    "lake_of",
    "markov_transitions",
    "rephrase_candidates",
]
