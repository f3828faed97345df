"""The training window of the model assets: the latest ingested days and their rows, or a clear Failure."""

from collections.abc import Callable
from datetime import date

import dagster as dg
import duckdb as ddb
import polars as pl
from dagster_duckdb import DuckDBResource

from selflearn_assets.lib.models.window import NO_TURNS, latest_ingested_days


def load_training_window(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    window_days: int,
    load: Callable[[ddb.DuckDBPyConnection, list[date]], pl.DataFrame],
) -> tuple[list[date], pl.DataFrame]:
    """(days, `load(con, days)`) for the latest `window_days` ingested days, logged; a Failure saying what to do
    when nothing has been ingested."""
    with duckdb.get_connection() as con:
        days = latest_ingested_days(con, window_days)
        if not days:
            raise dg.Failure(description=NO_TURNS)
        rows = load(con, days)
    context.log.info(f"{rows.height} turns of {len(days)} days ({min(days)}..{max(days)})")
    return days, rows
