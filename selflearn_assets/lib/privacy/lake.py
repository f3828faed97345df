"""A forgotten customer's rows leave the lake (`lib/lake/`): the tables whose rows live there as day partitions
(`LAKE_TABLES`, the warehouse's views read them), which the warehouse's deletes do not reach.

A row goes on the same rule as in the warehouse's tables (`warehouse.py`), per day: a partition of day D loses
the rows whose event-id column (`event_id`, `*_event_id`) holds one of the customer's turns of day D, or whose
`user_id` is one of their pseudonyms (`signals.markov_transitions`, which has neither but a `users` list, is
counted again instead: `warehouse.recount_markov`), or, for a table given a `RowRule` (the quarantined lines,
found by their raw text), on the rule's days, whose rows its mask says are theirs. Each partition that loses
rows is published again whole without them (`Lake.write_partition`: written beside it and renamed over it), so
a reader sees it before or after, and the previous file is gone. A crash leaves some days rewritten and others not; since forget-user commits the
warehouse last, running it again finds the same turns and finishes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from selflearn_assets.lib.lake import LAKE_TABLES, Lake, table_schema
from selflearn_assets.lib.lake.views import view_sql

CLEAN_TURNS = "ingest.clean_turns"


@dataclass(frozen=True)
class PartitionChange:
    table: str
    day: date
    rows: int  # rows of the customer that left it (or would leave it, in a dry run)


@dataclass(frozen=True)
class RowRule:
    """Rows of a table that are the customer's beyond their ids: on `days`, those `mask(rows)` marks."""

    days: set[date]
    mask: Callable[[pa.Table], pa.Array]


def forget_in_lake(
    lake: Lake,
    events: dict[date, set[str]],
    pseudonyms: list[str],
    dry_run: bool,
    rules: dict[str, RowRule] | None = None,
) -> list[PartitionChange]:
    """Publish again, without the customer's rows, every lake partition that holds some (`events`: day -> the
    customer's event ids that day; `rules`: table -> a rule for rows their ids do not tell)."""
    changes = []
    for table in LAKE_TABLES:
        columns = table_schema(table).names
        by_user = "user_id" in columns
        event_columns = [c for c in columns if c == "event_id" or c.endswith("_event_id")]
        rule = (rules or {}).get(table)
        for day in lake.days(table):
            ids = sorted(events.get(day, ()))
            ruled = rule is not None and day in rule.days
            if not ids and not by_user and not ruled:
                continue
            rows = lake.read_partition(table, day)
            if rows is None:
                continue
            theirs = _theirs(rows, event_columns, ids, pseudonyms if by_user else [])
            if ruled:
                theirs = pc.or_(theirs, rule.mask(rows))
            removed = int(pc.sum(theirs).as_py() or 0)
            if not removed:
                continue
            changes.append(PartitionChange(table, day, removed))
            if not dry_run:
                lake.write_partition(table, day, rows.filter(pc.invert(theirs)))
    return changes


def _theirs(rows: pa.Table, event_columns: list[str], ids: list[str], pseudonyms: list[str]) -> pa.Array:
    theirs = pa.array([False] * rows.num_rows, pa.bool_())
    wanted = [(c, ids) for c in event_columns if ids] + ([("user_id", pseudonyms)] if pseudonyms else [])
    for column, values in wanted:
        hit = pc.fill_null(pc.is_in(rows.column(column), value_set=pa.array(values, pa.string())), False)
        theirs = pc.or_(theirs, hit)
    return theirs


def hide_forgotten_turns(
    con: duckdb.DuckDBPyConnection, lake: Lake, events: dict[date, set[str]], pseudonyms: list[str]
) -> None:
    """For a dry run, inside its transaction (rolled back: nothing stays): the view of ingest.clean_turns leaves
    out the rows `forget_in_lake` would remove, so that what is counted again from the turns (the Markov
    transitions) counts as the real run will. Nothing when clean_turns is still a warehouse table (the
    transaction deleted its rows)."""
    kind = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = 'ingest' AND table_name = 'clean_turns'"
    ).fetchall()
    if kind != [("VIEW",)]:
        return
    users = _list(pseudonyms)
    keys = _list(f"{d.isoformat()}/{e}" for d, ids in events.items() for e in ids)
    con.execute(
        f"CREATE OR REPLACE VIEW {CLEAN_TURNS} AS SELECT * FROM ({view_sql(lake, CLEAN_TURNS)}) "
        f"WHERE NOT (list_contains({users}, user_id) "
        f"OR list_contains({keys}, CAST(day AS VARCHAR) || '/' || event_id))"
    )


def _list(values) -> str:
    """A VARCHAR[] literal of `values` (quoted)."""
    return "[" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]::VARCHAR[]"
