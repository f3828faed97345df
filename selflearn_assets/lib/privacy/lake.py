"""A forgotten customer's rows leave the lake (`lib/lake/`): the tables whose rows live there as day partitions
(`LAKE_TABLES`, the warehouse's views read them), which the warehouse's deletes do not reach.

A row goes on the same rule as in the warehouse's tables (`warehouse.py`), per day: a partition of day D loses
the rows whose event-id column (`event_id`, `*_event_id`) holds one of the customer's turns of day D, or whose
`user_id` is one of their pseudonyms (`signals.markov_transitions`, which has neither but a `users` list, is
counted again instead: `warehouse.recount_markov`). Each partition that loses rows is published again whole without them
(`Lake.write_partition`: written beside it and renamed over it), so a reader sees it before or after, and the
previous file is gone. A crash leaves some days rewritten and others not; since forget-user commits the
warehouse last, running it again finds the same turns and finishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from selflearn_assets.lib.lake import LAKE_TABLES, Lake, table_schema


@dataclass(frozen=True)
class PartitionChange:
    table: str
    day: date
    rows: int  # rows of the customer that left it (or would leave it, in a dry run)


def forget_in_lake(
    lake: Lake, events: dict[date, set[str]], pseudonyms: list[str], dry_run: bool
) -> list[PartitionChange]:
    """Publish again, without the customer's rows, every lake partition that holds some (`events`: day -> the
    customer's event ids that day)."""
    changes = []
    for table in LAKE_TABLES:
        columns = table_schema(table).names
        by_user = "user_id" in columns
        event_columns = [c for c in columns if c == "event_id" or c.endswith("_event_id")]
        for day in lake.days(table):
            ids = sorted(events.get(day, ()))
            if not ids and not by_user:
                continue
            rows = lake.read_partition(table, day)
            if rows is None:
                continue
            theirs = _theirs(rows, event_columns, ids, pseudonyms if by_user else [])
            removed = int(pc.sum(theirs).as_py() or 0)
            if not removed:
                continue
            changes.append(PartitionChange(table, day, removed))
            if not dry_run:
                lake.write_partition(table, day, rows.filter(pc.invert(theirs)))
    return changes


def _theirs(rows: pa.Table, event_columns: list[str], ids: list[str], pseudonyms: list[str]) -> pa.Array:
    theirs = pa.array([False] * rows.num_rows)
    wanted = [(c, ids) for c in event_columns if ids] + ([("user_id", pseudonyms)] if pseudonyms else [])
    for column, values in wanted:
        hit = pc.fill_null(pc.is_in(rows.column(column), value_set=pa.array(values, pa.string())), False)
        theirs = pc.or_(theirs, hit)
    return theirs
