"""The warehouse file written again without the bytes of deleted rows.

DuckDB marks deleted rows and frees their blocks at a checkpoint, but leaves the bytes in the file until a
block is reused: a forgotten customer's rows would stay readable in `warehouse.duckdb` with any byte editor
(checked: a deleted row's text is still in the file after CHECKPOINT and VACUUM). So once forget-user has
committed, the database is copied into a fresh file beside it (`COPY FROM DATABASE`: every schema, table, view
and macro, only the rows that live) and the fresh file is renamed over the warehouse. The connection that
holds the warehouse's lock stays open until the rename, so no other process writes the old file meanwhile; one
that opens the warehouse afterwards opens the new file. The copy needs the warehouse's size again in free disk
space. A crash leaves the warehouse as it was (committed, not yet compacted) and a partial copy beside it; the
next forget-user removes the copy and compacts again."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

FRESH = "forget-copy"


def leftover_copies(path: Path) -> list[Path]:
    """Copies (and their write-ahead logs) a crashed compaction left beside the warehouse at `path`."""
    return sorted(path.parent.glob(f".{path.name}.{FRESH}-*"))


def compact(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Copy the database `con` has open (the warehouse at `path`, no transaction open) into a fresh file and
    rename it over `path`; `con` still holds the old file, and is to be closed by the caller."""
    for stale in leftover_copies(path):
        stale.unlink(missing_ok=True)
    fresh = path.with_name(f".{path.name}.{FRESH}-{os.getpid()}")
    con.execute("FORCE CHECKPOINT")  # the write-ahead log folded in: closing `con` later writes nothing
    database = con.execute("SELECT current_database()").fetchone()[0]
    literal = "'" + str(fresh).replace("'", "''") + "'"  # ATTACH takes no bound parameter
    con.execute(f"ATTACH {literal} AS forget_copy")
    try:
        con.execute(f'COPY FROM DATABASE "{database}" TO forget_copy')
    except BaseException:
        con.execute("DETACH forget_copy")
        for stale in leftover_copies(path):
            stale.unlink(missing_ok=True)
        raise
    con.execute("DETACH forget_copy")  # checkpoints the copy: one file, no log
    os.replace(fresh, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
