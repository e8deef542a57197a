"""CPU time of this process and of the local broker, to say where a flow's cost goes.

On a shared 2-core machine rates drift with other load; CPU seconds per flow do much less, and
they say whether a variant is bound by its own process or by the broker. The broker is the
process listening on the AMQP URL's port on this machine, found through ``/proc`` (Linux, and
permission to read the broker's file descriptors, as root or the broker's user); anywhere else
its share is reported as missing rather than guessed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


@dataclass(frozen=True, slots=True)
class CpuSample:
    process: float  # seconds of CPU this process (and the others asked for) has used
    broker: float | None  # the broker's, or None when it cannot be read


class CpuClock:
    """Reads this process's CPU time and the local broker's, together."""

    def __init__(self, amqp_url: str) -> None:
        port = urlsplit(amqp_url).port or 5672
        self._broker_stat = _stat_of(listening_pid(port))
        self._tick = os.sysconf("SC_CLK_TCK")

    def sample(self, others: Sequence[int] = ()) -> CpuSample:
        """CPU time so far: this process's, plus that of the processes ``others`` (children
        doing the work, such as the domains of ``OrderProcesses``), and the broker's."""
        mine = time.process_time()
        for pid in others:
            mine += self._seconds(_stat_of(pid)) or 0.0  # one that has exited adds nothing
        return CpuSample(mine, self._seconds(self._broker_stat))

    def _seconds(self, stat: Path | None) -> float | None:
        if stat is None:
            return None
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone (the broker restarted): its share of this window is unknown
            return None
        return (int(fields[11]) + int(fields[12])) / self._tick  # utime + stime


def per_flow(start: CpuSample, end: CpuSample, flows: float) -> tuple[float, float | None]:
    """CPU seconds per flow between two samples: this process's, and the broker's."""
    if flows <= 0:
        return float("nan"), None
    process = (end.process - start.process) / flows
    if start.broker is None or end.broker is None:
        return process, None
    return process, (end.broker - start.broker) / flows


def _stat_of(pid: int | None) -> Path | None:
    return None if pid is None else Path(f"/proc/{pid}/stat")


def listening_pid(port: int) -> int | None:
    """The process with a socket listening on ``port`` (IPv4 or IPv6), if /proc says."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            for descriptor in (process / "fd").iterdir():
                if os.readlink(descriptor) in inodes:
                    return int(process.name)
        except OSError:  # gone, or not ours to read
            continue
    return None
