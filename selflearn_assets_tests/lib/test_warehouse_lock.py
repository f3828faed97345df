"""A warehouse held open by another process (even read-only) fails a writer within seconds, naming that
process, instead of DuckDB's retries for minutes ending in a generic error."""

import subprocess
import sys
import threading
import time

import duckdb
import pytest

from selflearn_assets.lib.warehouse_lock import WarehouseLockedError, check_unlocked, connect

READER = (
    "import duckdb, sys, time; con = duckdb.connect(sys.argv[1], read_only=True); "
    "print('open', flush=True); time.sleep(60)"
)


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    return path


@pytest.fixture
def reader(warehouse):
    """Another process holding the warehouse open read-only (as the README's notebook would)."""
    process = subprocess.Popen(
        [sys.executable, "-c", READER, str(warehouse)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "open"
    yield process
    process.kill()
    process.wait()


def test_a_locked_warehouse_names_the_process_that_holds_it(warehouse, reader):
    started = time.monotonic()
    with pytest.raises(WarehouseLockedError) as err:
        connect(warehouse, wait_s=0.5, poll_s=0.1)
    assert 0.5 <= time.monotonic() - started < 5
    message = str(err.value)
    assert message.startswith(f"the warehouse {warehouse} is locked by another process: ")
    assert f"(PID {reader.pid}: " in message and "read_only=True" in message  # its command line
    with pytest.raises(WarehouseLockedError):
        check_unlocked(warehouse)


def test_the_lock_is_waited_for_while_it_is_let_go(warehouse, reader):
    """A holder that goes away within the wait: the writer gets its connection."""
    threading.Timer(0.5, reader.kill).start()
    started = time.monotonic()
    con = connect(warehouse, wait_s=10, poll_s=0.1)
    assert 0.5 <= time.monotonic() - started < 10
    assert con.execute("SELECT 42").fetchone() == (42,)
    con.close()
    check_unlocked(warehouse)


def test_other_errors_are_not_taken_for_a_lock(tmp_path):
    (tmp_path / "not-a-db.duckdb").write_text("this is not a DuckDB file")
    with pytest.raises(duckdb.Error) as err:
        connect(tmp_path / "not-a-db.duckdb", wait_s=0)
    assert not isinstance(err.value, WarehouseLockedError)
    check_unlocked(tmp_path / "missing.duckdb")  # no file yet: nothing to check
