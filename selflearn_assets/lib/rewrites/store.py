"""The warehouse side of the rewrite stage: the transition window in, `rewrites.markov_rewrites` out."""

from __future__ import annotations

import json
from datetime import date, timedelta

import polars as pl

from selflearn_assets.lib.markov import GoldEvidence, normalize_expr
from selflearn_assets.lib.sql import query, query_pl, run_sql, table_exists, transaction


def ensure_rewrites_schema(con) -> None:
    run_sql(con, "rewrites/schema.sql")


def read_window(con, day: date, window_days: int) -> tuple[pl.DataFrame, date]:
    """The per-day markov_transitions rows of the `window_days` days ending at `day`, and the window start."""
    start = day - timedelta(days=window_days - 1)
    return query_pl(con, "rewrites/window_transitions.sql", {"window_start": start, "day": day}), start


def read_window_evidence(con, day: date, window_days: int) -> tuple[GoldEvidence, dict[str, str]]:
    """What the miner's meaning gates read of the window: its audit gold (`turns`, empty without
    annotations), what each text is understood as on successful turns, the label model's reading of
    each text where `labels.turn_labels` has the window's days (read when present: the rewrite stage
    does not depend on the models), and the locale of every utterance not said in English."""
    bounds = {"window_start": day - timedelta(days=window_days - 1), "day": day}
    locales = dict(query_pl(con, "rewrites/window_locales.sql", bounds).iter_rows())
    gold = (
        query_pl(con, "rewrites/window_gold.sql", bounds)
        if table_exists(con, "ingest", "annotations")
        else pl.DataFrame(
            schema=dict.fromkeys(("src", "intended_text", "gold_intent", "gold_slots"), pl.String)
        )
    )
    turns = gold.select("src", normalize_expr("intended_text").alias("intended"), "gold_intent", "gold_slots")
    interpretations = query_pl(
        con,
        "evaluation/text_interpretations.sql",
        {"window_start": bounds["window_start"], "window_end": day},
    ).select("norm_text", "intent", "slots")
    label_intents = (
        query_pl(con, "rewrites/window_label_intents.sql", bounds)
        if table_exists(con, "labels", "turn_labels")
        else None
    )
    return GoldEvidence(turns, interpretations, label_intents), locales


def write_rewrites_day(con, day: date, table: pl.DataFrame, mining: dict) -> None:
    """Replace `day`'s rows of rewrites.markov_rewrites with `table` and its mining report, in one
    transaction. `mining`: window_start, days_with_data, deployed_from, report (a JSON-able dict)."""
    ensure_rewrites_schema(con)
    con.register("_mined_rewrites", table.to_arrow())
    try:
        with transaction(con):
            con.execute("DELETE FROM rewrites.markov_rewrites WHERE day = ?", [day])
            con.execute("DELETE FROM rewrites.mining_reports WHERE day = ?", [day])
            run_sql(con, "rewrites/markov_rewrites_insert.sql", {"day": day})
            run_sql(
                con,
                "rewrites/mining_report_insert.sql",
                {**mining, "day": day, "report": json.dumps(mining["report"], default=str)},
            )
    finally:
        con.unregister("_mined_rewrites")


def mining_report(con, day: date) -> dict | None:
    ensure_rewrites_schema(con)
    rows = query(con, "rewrites/mining_report.sql", {"day": day}).fetchall()
    if not rows:
        return None
    window_start, days_with_data, deployed_from, report = rows[0]
    return {
        "window_start": window_start,
        "window_end": day,
        "days_with_data": days_with_data,
        "deployed_from": deployed_from,
        "report": json.loads(report),
    }


def rewrites_of_day(con, day: date) -> pl.DataFrame:
    ensure_rewrites_schema(con)
    return query_pl(con, "rewrites/rewrites_of_day.sql", {"day": day})
