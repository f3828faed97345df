"""Rephrase candidate pairs with lexical, phonetic and interpretation features, and the seam for a learned
rephrase detector (`model_scorer`: the ContReph champion's, from `models.rephrase_training.champion_scorer`).
Where the model scores a pair, `score` = `rephrase_model_weight` * model_score + (1 - weight) * heuristic_score
(see `params.py`); elsewhere `score` = heuristic_score."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import polars as pl

from selflearn_assets.lib.lake import Lake
from selflearn_assets.lib.signals.params import SignalParams
from selflearn_assets.lib.signals.store import ensure_signals_schema, publish_day
from selflearn_assets.lib.signals.text import phonetic_keys
from selflearn_assets.lib.sql import query_pl, run_sql, table_exists

PAIRS_TABLE = "_signals_rephrase_pairs"  # the temp table of rephrase_pairs.sql

# Given the day's candidate pairs (every column of signals.rephrase_candidates except model_score and
# score), return one probability in [0, 1] per row, in row order; NaN = no opinion (heuristic_score is used).
ModelScorer = Callable[[pl.DataFrame], np.ndarray]


def rephrase_candidates(
    con,
    day: date,
    params: SignalParams | None = None,
    model_scorer: ModelScorer | None = None,
    lake: Lake | None = None,
) -> dict:
    """Publish `signals.rephrase_candidates` for `day` (needs that day's signals.defect_signals) as the day's
    partition of `lake` (default: the warehouse's, `store.lake_of`) and report.

    With gold `rephrase_of` annotations for the day, the report has precision/recall/F1 of
    `score >= rephrase_threshold` (and of each of heuristic_score and model_score) against them."""
    params = params or SignalParams()
    lake = ensure_signals_schema(con, lake)
    texts = query_pl(con, "signals/rephrase_texts.sql", {"day": day})
    con.register("_signals_phonetic", phonetic_keys(texts.get_column("norm_text")))
    try:
        run_sql(con, "signals/rephrase_pairs.sql", _pair_params(day, params))
    finally:
        con.unregister("_signals_phonetic")

    try:
        scores = _model_scores(con, model_scorer)
        con.register("_signals_model_scores", scores)
        try:
            publish_day(
                con,
                lake,
                "signals.rephrase_candidates",
                day,
                "signals/rephrase_candidates.sql",
                {"model_weight": params.rephrase_model_weight},
            )
        finally:
            con.unregister("_signals_model_scores")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {PAIRS_TABLE}")

    summary = query_pl(
        con, "signals/rephrase_summary.sql", {"day": day, "threshold": params.rephrase_threshold}
    )
    n, n_rephrases = summary.row(0)
    return {
        "day": day,
        "candidates": int(n),
        "rephrases": int(n_rephrases),
        "threshold": params.rephrase_threshold,
        "model_scored": model_scorer is not None,
        "gold": _gold_report(con, day, params.rephrase_threshold),
    }


def _pair_params(day: date, params: SignalParams) -> dict:
    return {
        "day": day,
        "max_gap_s": params.rephrase_max_gap_s,
        "max_turn_distance": params.rephrase_max_turn_distance,
        **params.rephrase_weights,
    }


def _model_scores(con, model_scorer: ModelScorer | None) -> pl.DataFrame:
    """(first_event_id, second_event_id, model_score) of every pair; empty without a scorer."""
    if model_scorer is None:
        return pl.DataFrame(
            schema={"first_event_id": pl.String, "second_event_id": pl.String, "model_score": pl.Float64}
        )
    pairs = query_pl(con, "signals/rephrase_pairs_to_score.sql")
    scores = np.asarray(model_scorer(pairs), dtype=np.float64).reshape(-1)
    if len(scores) != pairs.height:
        raise ValueError(f"model_scorer returned {len(scores)} scores for {pairs.height} pairs")
    if np.any((scores < 0) | (scores > 1)):  # NaN compares false: allowed
        raise ValueError("model_scorer scores must lie in [0, 1]")
    return pairs.select("first_event_id", "second_event_id", model_score=pl.Series(scores).fill_nan(None))


def _gold_report(con, day: date, threshold: float) -> dict | None:
    """Pairwise precision/recall/F1 against gold rephrase_of of the day; None without gold."""
    if not table_exists(con, "ingest", "annotations"):
        return None
    gold = query_pl(con, "signals/rephrase_gold.sql", {"day": day})
    if gold.is_empty():
        return None
    annotated = gold.unique("second_event_id")
    gold_pairs = annotated.filter(pl.col("rephrase_of").is_not_null())
    in_window = gold.filter(pl.col("first_event_id") == pl.col("rephrase_of")).height
    report = {
        "annotated_turns": annotated.height,
        "gold_rephrases": gold_pairs.height,
        "gold_rephrases_outside_candidate_window": gold_pairs.height - in_window,
    }
    columns = ["score", "heuristic_score"] + (
        ["model_score"] if gold["model_score"].is_not_null().any() else []
    )
    for column in columns:
        predicted = gold.filter(pl.col(column) >= threshold)
        tp = predicted.filter(pl.col("first_event_id") == pl.col("rephrase_of")).height
        precision = tp / predicted.height if predicted.height else None
        recall = tp / gold_pairs.height if gold_pairs.height else None
        if recall is None:
            f1 = None
        else:
            f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
        report[column] = {
            "predicted": predicted.height,
            "true_positives": tp,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }
    return report
