"""CPU time of groups of processes (the domains, the broker's nodes, PostgreSQL), from ``/proc``.

The capacity benchmark splits what an order costs by who pays it. A group is a function that
names its processes now, so that a group whose members come and go (PostgreSQL's backends, one
per pooled connection) is counted by the processes alive at each sample: a process seen only at
the end counts from its start, one gone by the end counts for nothing. Pools are warm before a
window starts, so both are rare.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from benchmarks.cpu import listening_pid

Members = Callable[[], Iterable[int]]
Sample = dict[str, dict[int, float]]
STOREFRONT = "storefront"  # this process: the storefront placing orders and its tap
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds ``pid`` has used, with those of its children that have
    exited and been waited for (PostgreSQL's server reaps each backend whose connection closed),
    or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(field) for field in fields[11:15]) / _TICK  # utime stime cutime cstime


def sample(groups: Mapping[str, Members]) -> Sample:
    """Each group's processes and their CPU seconds so far, and this process's."""
    taken: Sample = {STOREFRONT: {os.getpid(): time.process_time()}}
    for name, members in groups.items():
        seconds = {pid: cpu_seconds(pid) for pid in members()}
        taken[name] = {pid: spent for pid, spent in seconds.items() if spent is not None}
    return taken


def spent(start: Sample, end: Sample) -> dict[str, float]:
    """CPU seconds each group used between two samples."""
    return {
        name: sum(seconds - start.get(name, {}).get(pid, 0.0) for pid, seconds in pids.items())
        for name, pids in end.items()
    }


def fixed(pids: Iterable[int]) -> Members:
    """A group of known processes."""
    known = tuple(pids)
    return lambda: known


def postgres_backends(database_prefix: str, port: int = 5432) -> Members:
    """The local PostgreSQL's processes that serve databases named ``database_prefix...``, its
    shared writers (WAL writer, checkpointer, background writer), which work for whoever writes,
    and the server itself, which forks a backend per connection and counts the CPU of those that
    have exited (a pool's overflow connections come and go under load). Other databases' living
    backends on the same server are left out; their exited ones are not told apart."""
    server = listening_pid(port)
    shared = ("walwriter", "checkpointer", "background writer")

    def members() -> list[int]:
        if server is None:
            return []
        found = [server]
        for pid in _children(server):
            title = _title(pid)
            if database_prefix in title or any(name in title for name in shared):
                found.append(pid)
        return found

    return members


def _children(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                children.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue  # gone while we looked
    return children


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
