"""The warehouse's lock: DuckDB lets one process open a database file for writing and, meanwhile, no other
process open it at all (not even read-only). A writer that finds the file locked says at once which process
holds it, instead of retrying for minutes and failing with a generic error.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import duckdb

_CONFLICT = re.compile(r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")


class WarehouseLockedError(RuntimeError):
    """Another process holds the warehouse file's lock."""


def locked_by(error: BaseException) -> str | None:
    """ "<program> (PID n[: its command line])" from DuckDB's lock error; None for any other error."""
    match = _CONFLICT.search(str(error))
    if match is None:
        return None
    pid = int(match["pid"])
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        command = ""
    return f"{match['program']} (PID {pid}{': ' + command[:200] if command else ''})"


def locked_message(database: str | Path, holder: str) -> str:
    return (
        f"the warehouse {database} is locked by another process: {holder}. While a process has it open "
        "(even read-only), no other may write it: close that connection (or read a copy of the file) and "
        "run again"
    )


def connect(
    database: str | Path, config: dict[str, Any] | None = None, wait_s: float = 10.0, poll_s: float = 0.5
) -> duckdb.DuckDBPyConnection:
    """A read-write connection; while another process holds the lock, retry for `wait_s` seconds, then raise
    WarehouseLockedError naming that process. Other errors are raised as they are."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(str(database), read_only=False, config=config or {})
        except duckdb.IOException as err:
            holder = locked_by(err)
            if holder is None:
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(locked_message(database, holder)) from None
            time.sleep(poll_s)


def check_unlocked(database: str | Path) -> None:
    """Raise WarehouseLockedError at once when an existing warehouse file is locked by another process."""
    if Path(database).is_file():
        connect(database, wait_s=0).close()
