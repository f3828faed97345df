"""Schema creation and the atomic delete-then-insert of one day's partition."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from selflearn_assets.lib.sql import run_sql, table_exists

__all__ = ["SIGNAL_TABLES", "delete_day", "ensure_signals_schema", "table_exists", "transaction"]

SIGNAL_TABLES = (
    "signals.defect_signals",
    "signals.defect_model",
    "signals.rephrase_candidates",
    "signals.markov_transitions",
)


def ensure_signals_schema(con) -> None:
    """Create the `signals` schema, its tables and its similarity macros (idempotent)."""
    run_sql(con, "signals/schema.sql")


@contextmanager
def transaction(con) -> Iterator[None]:
    """One DuckDB transaction: committed when the block ends, rolled back if it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def delete_day(con, table: str, day: date) -> None:
    """Delete `day`'s rows of one of our tables (call inside `transaction`)."""
    if table not in SIGNAL_TABLES:
        raise ValueError(f"not a signals table: {table}")
    con.execute(f"DELETE FROM {table} WHERE day = ?", [day])  # identifier from the fixed list above
