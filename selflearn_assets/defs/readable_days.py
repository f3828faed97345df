"""The warehouse connection of an asset downstream of ingestion: it refuses a blocked day and leaves blocked
days out of the windows read on it (see `lib/ingest/gates.py`)."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import dagster as dg
import duckdb as ddb
from dagster_duckdb import DuckDBResource

from selflearn_assets.lib.ingest.gates import day_status, exclude_blocked_days, left_out_note


def require_readable(con: ddb.DuckDBPyConnection, day: date) -> None:
    """A dg.Failure saying why, unless every blocking ingestion gate passed on `day` since its ingestion."""
    status = day_status(con, day)
    if not status.readable:
        raise dg.Failure(description=status.message())


@contextmanager
def readable_day(duckdb: DuckDBResource, day: date) -> Iterator[ddb.DuckDBPyConnection]:
    """A connection for the asset of `day`: a dg.Failure when the day is blocked (or not ingested); window SQL
    run on it leaves every blocked day out."""
    with duckdb.get_connection() as con:
        require_readable(con, day)
        exclude_blocked_days(con)
        yield con


def log_left_out(context: dg.AssetExecutionContext, start: date, end: date, left_out: list[date]) -> str:
    """Log (as a warning) which days of the window [start, end] were left out as blocked; returns the note
    ("" when none was), for the asset's metadata."""
    note = left_out_note(start, end, left_out)
    if note:
        context.log.warning(note)
    return note
