"""The training window of the model assets: the latest ingested days and their rows, without the days an
ingestion gate blocked, or a clear Failure."""

from collections.abc import Callable
from datetime import date

import dagster as dg
import duckdb as ddb
import polars as pl
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.readable_days import log_left_out
from selflearn_assets.lib.ingest.gates import readable_among
from selflearn_assets.lib.models.window import NO_TURNS, latest_ingested_days


def load_training_window(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    window_days: int,
    load: Callable[[ddb.DuckDBPyConnection, list[date]], pl.DataFrame],
) -> tuple[list[date], pl.DataFrame]:
    """(days, `load(con, days)`) for the readable days among the latest `window_days` ingested days, logged
    with the days left out as blocked; a Failure saying what to do when no day is readable."""
    with duckdb.get_connection() as con:
        window = latest_ingested_days(con, window_days)
        if not window:
            raise dg.Failure(description=NO_TURNS)
        days = readable_among(con, window)
        if not days:
            raise dg.Failure(
                description=f"every day of the window {min(window)}..{max(window)} is blocked by an ingestion "
                "gate; fix the raw data and re-materialize clean_turns for those days"
            )
        rows = load(con, days)
    log_left_out(context, min(window), max(window), sorted(set(window) - set(days)))
    context.log.info(f"{rows.height} turns of {len(days)} days ({min(days)}..{max(days)})")
    return days, rows
