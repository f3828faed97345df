"""Per-turn defect signals and their combination into defect_prob, calibrated on gold when there is some."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from selflearn_assets.lib.lake import Lake
from selflearn_assets.lib.signals.calibration import (
    DefectModel,
    calibration_metrics,
    choose_fit,
    fit_map_logistic,
    grouped_cv_predict,
)
from selflearn_assets.lib.signals.params import DEFECT_SIGNALS, SignalParams
from selflearn_assets.lib.signals.store import delete_day, ensure_signals_schema, publish_day, transaction
from selflearn_assets.lib.signals.text import normalize_expr
from selflearn_assets.lib.sql import query_pl, run_sql, table_exists

FEATURES_TABLE = "_signals_defect_features"


def defect_signals(con, day: date, params: SignalParams | None = None, lake: Lake | None = None) -> dict:
    """Publish `signals.defect_signals` for `day` (one row per turn of ingest.clean_turns) as the day's
    partition of `lake` (default: the warehouse's, `store.lake_of`) and return a report.

    With enough gold in the window ending at `day` the combination is refitted, and the refit is used (and
    written to `signals.defect_model`) only when its Brier score on held-out sessions beats the default
    prior's on the same gold turns; otherwise the prior is used (`calibration.choose_fit`). Without enough
    gold it is the latest model fitted on an earlier day, else the prior (see `params`). The report holds
    the signal rates, the model used and why (`model["why"]`: "Brier a < prior b", "fitted Brier a >= prior
    b", or why there was no fit) and, when there was a fit, the calibration before/after."""
    params = params or SignalParams()
    lake = ensure_signals_schema(con, lake)
    texts = query_pl(con, "signals/turn_texts.sql", {"day": day})
    con.register("_signals_norm_text", texts.select("event_id", norm_text=normalize_expr("asr_text")))
    try:
        run_sql(con, "signals/defect_features.sql", {"day": day, **_feature_params(params)})
    finally:
        con.unregister("_signals_norm_text")

    try:
        before = _model_before(con, day, params)
        model, calibration = before, _calibrate(con, day, params, before)
        if calibration and calibration.get("chosen") == "fitted":
            model = DefectModel.from_json(calibration["weights_after"], day)
        elif calibration and calibration.get("fitted"):  # the refit lost to the prior on held-out sessions
            model = DefectModel.prior(params)
        publish_day(
            con, lake, "signals.defect_signals", day, "signals/defect_signals.sql", model.sql_params()
        )
        # the model's row after the day's partition: a crash between the two leaves the new signals beside the
        # day's previous defect_model row, until the day is run again
        with transaction(con):
            delete_day(con, "signals.defect_model", day)
            if model.day == day:
                run_sql(
                    con,
                    "signals/defect_model_insert.sql",
                    {
                        "day": day,
                        "fitted_on_days": calibration["fitted_on_days"],
                        "weights": json.dumps(model.to_json()),
                        "metrics": json.dumps(calibration, default=_json_default),
                    },
                )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {FEATURES_TABLE}")

    row = query_pl(con, "signals/defect_summary.sql", {"day": day}).row(0, named=True)
    return {
        "day": day,
        "turns": int(row.pop("turns")),
        "mean_defect_prob": row.pop("mean_defect_prob"),
        "defect_rate_at_half": row.pop("defect_rate_at_half"),
        "signal_rates": row,
        "model": {
            "source": "default_prior"
            if model.day is None
            else ("fitted" if model.day == day else "earlier_fit"),
            "day": model.day,
            "weights": model.to_json(),
            "why": _why(model, calibration),
        },
        "calibration": calibration,
    }


def _feature_params(params: SignalParams) -> dict:
    return {
        "abandon_gap_s": params.abandon_gap_s,
        "similar_gap_s": params.similar_gap_s,
        "similar_max_turn_distance": params.similar_max_turn_distance,
        "similar_threshold": params.similar_threshold,
        "low_asr_confidence": params.low_asr_confidence,
        "low_nlu_confidence": params.low_nlu_confidence,
        "low_wake_score": params.low_wake_score,
    }


def _model_before(con, day: date, params: SignalParams) -> DefectModel:
    """The latest model fitted on a day before `day`, else the default prior (no look-ahead on backfills)."""
    rows = run_sql(con, "signals/defect_model_before.sql", {"day": day}).fetchall()
    if not rows:
        return DefectModel.prior(params)
    model_day, weights = rows[0]
    return DefectModel.from_json(json.loads(weights), model_day)


def _why(model: DefectModel, calibration: dict | None) -> str:
    """Why the day's combination is the one used: the refit's comparison with the prior, or why no refit."""
    if calibration and calibration.get("fitted"):
        return calibration["choice"]
    reason = "no gold annotations in the window" if not calibration else calibration["reason"]
    return reason if model.day is None else f"model fitted on {model.day}; no refit: {reason}"


def _calibrate(con, day: date, params: SignalParams, before: DefectModel) -> dict | None:
    """Fit the combination on the window's gold turns and say whether the fit beats the default prior there
    (`chosen`: "fitted" or "default_prior", `choice`: why). The refit is scored on held-out sessions (5-fold
    cross-validation grouped by session), the prior on the same turns (it was fitted on none of them); the
    model in force before (`before`, the prior or an earlier fit) is reported but is no candidate: an earlier
    fit learnt from most of this window's gold, so its score here would be in-sample. None when there are
    no annotations at all."""
    if not table_exists(con, "ingest", "annotations"):
        return None
    window_start = day - timedelta(days=params.calibration_window_days - 1)
    gold = query_pl(con, "signals/defect_gold.sql", {"day": day, "window_start": window_start})
    if gold.is_empty():
        return None
    x = gold.select(pl.col(s).fill_null(False).cast(pl.Float64) for s in DEFECT_SIGNALS).to_numpy()
    y = gold.get_column("defective").cast(pl.Float64).to_numpy()
    report: dict = {
        "n_gold": len(y),
        "n_defective": int(y.sum()),
        "window": [window_start, day],
        "fitted": False,
    }
    if len(y) < params.min_gold_turns or y.min() == y.max():
        report["reason"] = f"needs >= {params.min_gold_turns} gold turns of both classes"
        return report

    prior = DefectModel.prior(params)
    theta = fit_map_logistic(x, y, prior.vector, params.calibration_l2)
    fitted = DefectModel(float(theta[0]), dict(zip(DEFECT_SIGNALS, map(float, theta[1:]), strict=True)), day)
    out_of_fold = grouped_cv_predict(
        x,
        y,
        gold.get_column("session_id").to_numpy(),
        prior.vector,
        params.calibration_l2,
        params.calibration_folds,
    )
    bins = params.calibration_bins
    after = calibration_metrics(y, out_of_fold if out_of_fold is not None else fitted.predict(x), bins)
    prior_metrics = calibration_metrics(y, prior.predict(x), bins)
    choice = choose_fit(after["brier"] if out_of_fold is not None else None, prior_metrics["brier"])
    report.update(
        fitted=True,
        fitted_on_days=sorted(set(gold.get_column("day").to_list())),
        before_model_day=before.day,
        weights_before=before.to_json(),
        weights_after=fitted.to_json(),
        before=calibration_metrics(y, before.predict(x), bins),
        prior=prior_metrics,
        after=after,
        after_evaluation=(
            f"{params.calibration_folds}-fold cross-validation grouped by session"
            if out_of_fold is not None
            else f"in-sample (fewer than {params.calibration_folds} sessions)"
        ),
        after_in_sample=calibration_metrics(y, fitted.predict(x), bins),
        chosen="fitted" if choice.use_fit else "default_prior",
        choice=choice.why,
    )
    return report


def _json_default(value):
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
