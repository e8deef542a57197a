"""A throwaway vhost on the local RabbitMQ for each benchmark, so runs never see each other.

The same as the tests' helper, kept here so that benchmarks do not import tests. Benchmarks
only ever talk to a broker on this machine: a URL naming another host is refused.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from yarl import URL

BROKER_URL = os.environ.get("INTERPLAY_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def rabbitmqctl(*arguments: str, check: bool = True, timeout: float = 60) -> str:
    if shutil.which("rabbitmqctl") is None:
        raise RuntimeError("rabbitmqctl is not on PATH: run scripts/ensure-rabbitmq first")
    # rabbitmqctl runs an Erlang VM under su (in a session of its own), which a timeout must
    # end too, or the pipes stay open and waiting for them hangs.
    process = subprocess.Popen(
        ["rabbitmqctl", "-q", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in (process.pid, *_descendants(process.pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.communicate()
        raise RuntimeError(f"rabbitmqctl {' '.join(arguments)} took over {timeout:g}s") from None
    if check and process.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(arguments)} failed: {stderr.strip()}")
    return stdout


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc (empty where there is no /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


@contextmanager
def fresh_vhost(
    prefix: str = "interplay-bench",
    broker_url: str = BROKER_URL,
    ctl: Callable[..., str] = rabbitmqctl,
) -> Iterator[str]:
    """A vhost of its own, guest allowed everything, deleted afterwards; yields its AMQP URL.

    ``broker_url`` and ``ctl`` name another local broker (the capacity benchmark's cluster)."""
    broker = URL(broker_url)
    if broker.host not in LOOPBACK:
        raise RuntimeError(f"benchmarks run against a local broker only, not {broker.host}")
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    ctl("add_vhost", name)
    try:
        ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield str(broker.with_path("/" + name))
    finally:
        ctl("delete_vhost", name, check=False)


def broker_version() -> str:
    """The RabbitMQ version, for the report; "unknown" when rabbitmqctl cannot say."""
    try:
        return rabbitmqctl("version").strip() or "unknown"
    except RuntimeError:
        return "unknown"
