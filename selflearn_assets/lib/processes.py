"""Who is doing the work: a process's identity (pid, host, start time), recorded by whoever starts something
that may outlive a crash (a Dagster run, a staging folder), so that a later process can tell whether that
writer is still alive. The start time makes a reused pid (another process with the same number) read as gone.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessId:
    pid: int
    host: str
    started: str  # the OS's start time of the process ("" where the OS does not tell)

    def alive(self) -> bool | None:
        """True while this very process runs; False once it is gone (or its pid belongs to another process);
        None when it ran on another host (cannot tell from here: treat it as alive)."""
        if self.host != socket.gethostname():
            return None
        now = start_time(self.pid)
        if now is None:
            return False
        return not (self.started and now and now != self.started)


def current() -> ProcessId:
    """This process."""
    return ProcessId(os.getpid(), socket.gethostname(), start_time(os.getpid()) or "")


def start_time(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks after boot (Linux `/proc/<pid>/stat`, field 22), ""
    where there is no /proc; None when there is no such process (a zombie counts as gone)."""
    if pid <= 0:
        return None
    if not os.path.isdir("/proc/self"):  # no /proc here: all we can tell is whether the pid exists
        return "" if _pid_exists(pid) else None
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    if fields[0] == "Z":
        return None
    return fields[19]


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
