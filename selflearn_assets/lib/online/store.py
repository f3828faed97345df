"""The warehouse side of the online layers: the window's turns, rephrases and applied rewrites in,
`online.*_entries` and `online.rewrite_verdicts` out."""

from __future__ import annotations

from datetime import date

import polars as pl

from selflearn_assets.lib.markov.normalize import normalize_expr
from selflearn_assets.lib.online.entries import GLOBAL_COLUMNS, PERSONAL_COLUMNS
from selflearn_assets.lib.online.self_aware import APPLIED_COLUMNS, VERDICT_COLUMNS
from selflearn_assets.lib.sql import query_pl, run_sql, table_exists, transaction

ONLINE_TABLES = ("global_entries", "personal_entries", "rewrite_verdicts")
ENTRY_TABLES = ONLINE_TABLES[:2]  # the layers' entries (entries_of_day.sql)
REGISTERED = {"global_entries": "_online_global", "personal_entries": "_online_personal",
              "rewrite_verdicts": "_online_verdicts"}  # fmt: skip
TURN_COLUMNS = {"day": pl.Date, "user_id": pl.String, "norm_text": pl.String, "defect_prob": pl.Float64,
                "intent": pl.String, "slots": pl.String}  # fmt: skip


def ensure_online_schema(con) -> None:
    run_sql(con, "online/schema.sql")


def read_turns(con, days: list[date]) -> pl.DataFrame:
    """The turns of `days` (entries.py's input)."""
    if not days:
        return pl.DataFrame(schema=TURN_COLUMNS)
    return query_pl(con, "online/window_turns.sql", {"days": days}).cast(TURN_COLUMNS)


def read_pairs(con, days: list[date]) -> pl.DataFrame:
    """The rephrase candidates of `days` with normalised texts (training.weak_requests' input)."""
    pairs = query_pl(con, "online/rephrase_pairs.sql", {"days": days}) if days else None
    if pairs is None or not pairs.height:
        return pl.DataFrame(
            schema={"day": pl.Date, "user_id": pl.String, "first_text": pl.String, "second_text": pl.String,
                    "first_defect_prob": pl.Float64, "second_defect_prob": pl.Float64, "score": pl.Float64}
        )  # fmt: skip
    return pairs.with_columns(
        first_text=normalize_expr("first_text"), second_text=normalize_expr("second_text")
    )


def read_gold(con, day: date) -> pl.DataFrame:
    """Gold-annotated turns of `day` with their speaker (empty when no annotations were ingested)."""
    if not table_exists(con, "ingest", "annotations"):
        return pl.DataFrame()
    return query_pl(con, "online/gold_turns.sql", {"day": day})


def read_gold_days(con, days: list[date]) -> pl.DataFrame:
    """`read_gold` of each of `days`, with a `day` column (empty when none has gold)."""
    frames = [g.with_columns(day=pl.lit(d, dtype=pl.Date)) for d in days if (g := read_gold(con, d)).height]
    return pl.concat(frames) if frames else pl.DataFrame()


def write_global(con, day: date, entries: pl.DataFrame) -> None:
    """Replace `day`'s rows of online.global_entries."""
    _replace(con, day, "global_entries", entries.select(GLOBAL_COLUMNS))


def write_personal(con, day: date, entries: pl.DataFrame) -> None:
    """Replace `day`'s rows of online.personal_entries."""
    _replace(con, day, "personal_entries", entries.select(PERSONAL_COLUMNS))


def read_applied(con, days: list[date]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The online layers' rewrites applied on `days` (self_aware.APPLIED_COLUMNS) and the days' transition
    rows (markov.rows), the self-aware rule's input."""
    if not days:
        return pl.DataFrame(schema=APPLIED_COLUMNS), pl.DataFrame()
    applied = query_pl(con, "online/applied_rewrites.sql", {"days": days})
    rows = query_pl(con, "online/window_transitions.sql", {"days": days})
    return (applied if applied.height else pl.DataFrame(schema=APPLIED_COLUMNS)), rows


def write_verdicts(con, day: date, verdicts: pl.DataFrame) -> None:
    """Replace `day`'s rows of online.rewrite_verdicts."""
    _replace(con, day, "rewrite_verdicts", verdicts.select(list(VERDICT_COLUMNS)))


def read_verdicts(con, day: date) -> pl.DataFrame:
    """The self-aware verdicts of `day` (empty, with the columns, when none were written)."""
    ensure_online_schema(con)
    found = query_pl(con, "online/verdicts_of_day.sql", {"day": day})
    return found.cast(VERDICT_COLUMNS) if found.height else pl.DataFrame(schema=VERDICT_COLUMNS)


def _replace(con, day: date, table: str, frame: pl.DataFrame) -> None:
    if table not in ONLINE_TABLES:
        raise ValueError(f"not an online table: {table!r}")
    ensure_online_schema(con)
    name = REGISTERED[table]
    con.register(name, frame.to_arrow())
    try:
        with transaction(con):
            con.execute(f"DELETE FROM online.{table} WHERE day = ?", [day])  # table names are ours
            run_sql(con, f"online/{table}_insert.sql", {"day": day})
    finally:
        con.unregister(name)


def read_entries(con, day: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(global, personal) entries of `day`; empty frames when none were built."""
    ensure_online_schema(con)
    frames = [query_pl(con, "online/entries_of_day.sql", {"day": day}, identifiers={"layer_table": t})
              for t in ENTRY_TABLES]  # fmt: skip
    return frames[0], frames[1]
