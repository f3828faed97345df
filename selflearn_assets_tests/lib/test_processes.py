"""A process identity is alive while that very process runs: gone once it exits, gone when its pid now belongs
to a process started at another time, unknown (None) on another host."""

import os
import subprocess
import sys
import time
from dataclasses import replace

from selflearn_assets.lib import processes


def test_this_process_is_alive_and_has_a_start_time():
    me = processes.current()
    assert me.pid == os.getpid() and me.alive() is True
    if sys.platform == "linux":
        assert me.started.isdigit()


def test_an_exited_process_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = processes.ProcessId(child.pid, processes.current().host, processes.start_time(child.pid) or "")
    child.wait()
    assert identity.alive() is False
    assert processes.start_time(child.pid) is None


def test_an_unreaped_child_is_gone():
    """Killed but not yet waited for: a zombie holds its pid but runs nothing."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    identity = processes.ProcessId(child.pid, processes.current().host, "")
    child.kill()
    deadline = time.monotonic() + 5
    while identity.alive() is not False and time.monotonic() < deadline:
        time.sleep(0.01)
    assert identity.alive() is False
    child.wait()


def test_a_reused_pid_is_not_the_recorded_process():
    me = processes.current()
    if sys.platform == "linux":
        assert replace(me, started=str(int(me.started) + 1)).alive() is False
    assert replace(me, started="").alive() is True  # nothing recorded to compare: the pid decides


def test_another_hosts_process_cannot_be_judged_from_here():
    assert replace(processes.current(), host="elsewhere.invalid").alive() is None
