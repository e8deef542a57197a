"""How the flow benchmark splits CPU per flow between its own process and the broker's."""

from __future__ import annotations

import math
import os
import socket
import sys

import pytest

from benchmarks.cpu import CpuClock, CpuSample, listening_pid, per_flow

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_cpu_per_flow_divides_each_side_by_the_flows_of_the_window() -> None:
    start, end = CpuSample(1.0, 10.0), CpuSample(3.0, 11.0)
    assert per_flow(start, end, 100) == (0.02, 0.01)


def test_an_unreadable_broker_gives_no_broker_share_rather_than_a_guess() -> None:
    assert per_flow(CpuSample(1.0, None), CpuSample(2.0, 5.0), 10) == (0.1, None)
    assert per_flow(CpuSample(1.0, 4.0), CpuSample(2.0, None), 10) == (0.1, None)


def test_no_flow_in_the_window_has_no_cost_per_flow() -> None:
    process, broker = per_flow(CpuSample(1.0, 1.0), CpuSample(2.0, 2.0), 0)
    assert math.isnan(process)
    assert broker is None


@linux_only
def test_the_broker_is_the_process_listening_on_the_urls_port() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert listening_pid(port) == os.getpid()
        clock = CpuClock(f"amqp://guest:guest@127.0.0.1:{port}/vhost")
        before = clock.sample()
        sum(range(2_000_000))  # some CPU for both readings to see
        after = clock.sample()
    assert before.broker is not None and after.broker is not None
    assert after.process > before.process
    assert after.broker >= before.broker


@linux_only
def test_with_nothing_listening_the_broker_share_is_missing() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening
    assert listening_pid(port) is None
    assert CpuClock(f"amqp://127.0.0.1:{port}/").sample().broker is None
