"""The warehouse side of teaching: the window's turns and gold in, `teaching.*` out (one writer: the caller's
connection, each day replaced in one transaction)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import polars as pl

from selflearn_assets.lib.markov.normalize import normalize_utterance
from selflearn_assets.lib.sql import query_pl, run_sql, table_exists, transaction
from selflearn_assets.lib.teaching.extract import CONCEPT

TABLES = ("moments", "extractions", "user_preferences")


def ensure_teaching_schema(con) -> None:
    run_sql(con, "teaching/schema.sql")


def read_turns(con, days: list[date]) -> pl.DataFrame:
    """The turns of `days` as `teaching/window_turns.sql` gives them."""
    return query_pl(con, "teaching/window_turns.sql", {"days": days})


@dataclass
class Gold:
    """The teaching gold of some days."""

    taught: dict[str, tuple[str, str]]  # event -> (key, value) of its `preference` label, normalised
    used: dict[str, str]  # event -> key of its `preference_use` label
    failure: dict[str, str]  # every audited event -> its failure point

    @property
    def annotated(self) -> set[str]:
        return set(self.failure)


def read_gold(con, days: list[date]) -> Gold:
    """The teaching gold of `days` (empty without annotations)."""
    gold = Gold({}, {}, {})
    if not days or not table_exists(con, "ingest", "annotations"):
        return gold
    for _, event_id, task, label in query_pl(con, "teaching/gold_preferences.sql", {"days": days}).iter_rows():
        value = json.loads(label)
        if task == "preference":
            gold.taught[event_id] = (normalize_key(value["key"]), normalize_utterance(value["value"]))
        elif task == "preference_use":
            gold.used[event_id] = normalize_key(value)
        else:
            gold.failure[event_id] = value
    return gold


def normalize_key(key: str) -> str:
    """`concept:` + the normalised name, or the preference name as it is."""
    return CONCEPT + normalize_utterance(key[len(CONCEPT) :]) if key.startswith(CONCEPT) else key


def write_day(con, table: str, day: date, rows: pl.DataFrame) -> None:
    """Replace `day`'s rows of teaching.`table` with `rows` (its columns but `day`)."""
    if table not in TABLES:
        raise ValueError(f"not a teaching table: {table!r}")
    ensure_teaching_schema(con)
    con.register(f"_teaching_{table}", rows.to_arrow())
    try:
        with transaction(con):
            con.execute(f"DELETE FROM teaching.{table} WHERE day = ?", [day])  # table names are ours
            run_sql(con, f"teaching/{table}_insert.sql", {"day": day})
    finally:
        con.unregister(f"_teaching_{table}")


def read_day(con, table: str, day: date) -> pl.DataFrame:
    """`day`'s rows of teaching.`table` (empty when none)."""
    if table not in TABLES:
        raise ValueError(f"not a teaching table: {table!r}")
    ensure_teaching_schema(con)
    return query_pl(con, "teaching/of_day.sql", {"day": day}, identifiers={"teaching_table": table})
