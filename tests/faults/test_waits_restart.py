"""A flow left waiting outlives a restart of the broker and of every domain process: its timer
still fires on time, from the saga store or the journal, and an answer published after the
restarts still resumes its flow."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from orchestrators import Pattern
from tests.books import read_books
from tests.databases import sqlite_url
from tests.faults.kill_run import KilledSystem
from tests.flows import (
    CHALLENGE_APPROVED,
    CHALLENGE_UNANSWERED,
    EXPECTED_EVENTS,
    EventTap,
    challenge_answer,
    order,
)
from tests.rabbitmq import fresh_vhost
from tests.rabbitmq_node import rabbitmq_node

pytestmark = pytest.mark.e2e

WAIT = 30.0  # seconds the payment waits: longer than the restarts take
RESERVED = "inventory.stock.reserved"


@pytest.mark.parametrize("pattern", [Pattern.ORCHESTRATION, Pattern.CHOREOGRAPHY])
async def test_a_waiting_flow_ends_on_time_after_the_broker_and_every_process_restart(
    pattern: Pattern, tmp_path: Path
) -> None:
    with (
        rabbitmq_node("interplay-waits") as node,
        fresh_vhost("interplay-waits", node.url, node.ctl) as amqp_url,
    ):
        system = KilledSystem(amqp_url, tmp_path, pattern=pattern, wait=WAIT)
        system.start()
        tap = EventTap(amqp_url, durable=True)
        await tap.start()
        try:
            unanswered, approved = order(CHALLENGE_UNANSWERED), order(CHALLENGE_APPROVED)
            flows = {
                CHALLENGE_UNANSWERED: await tap.place(unanswered),
                CHALLENGE_APPROVED: await tap.place(approved),
            }
            await tap.wait_for({flow: [RESERVED] for flow in flows.values()}, 30)
            await asyncio.sleep(1.0)  # the payments' waits are saved by now
            restarting = time.time()
            for process in system.processes.values():
                process.kill()
            await asyncio.to_thread(node.restart)
            for process in system.processes.values():
                process.start()
            for process in system.processes.values():
                await asyncio.to_thread(process.wait_ready)
            restarted = time.time()
            answer = challenge_answer(CHALLENGE_APPROVED, approved)
            tap.answer(flows[CHALLENGE_APPROVED], answer, RESERVED)
            expected = {flows[path]: EXPECTED_EVENTS[path] for path in flows}
            await tap.wait_for(expected, WAIT + 60)
        finally:
            await tap.close()
            system.stop()

    assert restarted - restarting < WAIT, "the restarts took longer than the wait"
    seen = {
        s.envelope.type: s.envelope.time.timestamp() for s in tap.flows[flows[CHALLENGE_UNANSWERED]]
    }
    fired = seen["payments.payment.failed"]
    assert fired > restarted  # the timer fired after the restarts
    waited = fired - seen[RESERVED]
    print(f"restarts took {restarted - restarting:.1f}s; the wait ended after {waited:.1f}s")
    assert WAIT <= waited < WAIT + 5.0
    books = read_books(sqlite_url(tmp_path))
    assert books.order_status[unanswered.order_id] == "cancelled"
    assert books.payment_status[unanswered.order_id] == "voided"
    assert books.order_status[approved.order_id] == "completed"
    assert books.repeated_movements == 0
