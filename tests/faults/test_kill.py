"""Crash safety: SIGKILL orchestrators or service workers at random during a run of orders;
every flow still ends completed or cancelled-and-compensated, none is lost, no step's effect is
applied twice, stock and money are exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrators import Pattern
from tests.databases import fresh_databases
from tests.faults.kill_run import CHALLENGE_MIX, Figures, run
from tests.flows import CHALLENGE_UNANSWERED

pytestmark = pytest.mark.e2e


def assert_nothing_lost(figures: Figures, orders: int) -> None:
    """At least three kills, each process restarted; every order ended once, no effect twice,
    stock and money exact."""
    print(figures.line(), figures.flows_by_replica)
    assert figures.kills >= 3
    assert figures.restarts == figures.kills
    assert figures.problems == []
    assert figures.lost == 0
    assert figures.duplicated_effects == 0
    assert figures.completed + figures.cancelled == orders


@pytest.mark.parametrize("victims", [("orchestrator",), ("services",)])
async def test_no_flow_is_lost_and_no_effect_repeats_when_processes_are_killed(
    victims: tuple[str, ...], tmp_path: Path
) -> None:
    assert_nothing_lost(await run(200, victims, tmp_path), 200)


async def test_killed_processes_on_postgresql_lose_nothing_and_repeat_nothing(
    tmp_path: Path,
) -> None:
    """The same guarantees with every domain on PostgreSQL: an orchestrator and a services
    process per domain, both killed at random, their databases of their own."""
    with fresh_databases("postgresql", tmp_path) as database_url:
        figures = await run(200, ("orchestrator", "services"), tmp_path, database_url=database_url)
    assert_nothing_lost(figures, 200)


async def test_two_orchestrator_replicas_share_the_work_with_the_same_guarantees(
    tmp_path: Path,
) -> None:
    figures = await run(100, (), tmp_path, replicas=2)
    print(figures.line(), figures.flows_by_replica)
    assert figures.problems == []
    assert figures.completed + figures.cancelled == 100
    assert all(flows > 0 for flows in figures.flows_by_replica.values()), figures.flows_by_replica
    assert len(figures.flows_by_replica) == 10


async def test_killing_one_of_two_orchestrator_replicas_loses_nothing(tmp_path: Path) -> None:
    assert_nothing_lost(await run(200, ("orchestrator",), tmp_path, seed=11, replicas=2), 200)


async def test_a_broker_restart_among_the_kills_loses_nothing(tmp_path: Path) -> None:
    figures = await run(200, ("orchestrator", "services"), tmp_path, seed=5, broker_restart=True)
    assert_nothing_lost(figures, 200)
    assert figures.broker_restarts == 1
    assert figures.recovery_seconds < 10  # every process ready, every queue consumed again


async def test_choreographed_domains_lose_nothing_when_their_processes_are_killed(
    tmp_path: Path,
) -> None:
    figures = await run(
        200, ("services",), tmp_path, seed=3, replicas=2, pattern=Pattern.CHOREOGRAPHY
    )
    assert_nothing_lost(figures, 200)


@pytest.mark.parametrize("pattern", [Pattern.ORCHESTRATION, Pattern.CHOREOGRAPHY])
async def test_flows_waiting_for_a_challenge_lose_nothing_when_processes_are_killed(
    pattern: Pattern, tmp_path: Path
) -> None:
    """A third of the orders wait for a challenge, half of them answered, half left to time
    out; processes are killed while they wait, and the timers fire after the restarts."""
    orchestrated = pattern is Pattern.ORCHESTRATION
    victims = ("orchestrator", "services") if orchestrated else ("services",)
    replicas = 1 if orchestrated else 2
    figures = await run(
        200, victims, tmp_path, seed=13, replicas=replicas, pattern=pattern, challenges=True
    )
    assert_nothing_lost(figures, 200)
    unanswered = sum(
        CHALLENGE_MIX[n % len(CHALLENGE_MIX)] == CHALLENGE_UNANSWERED for n in range(200)
    )
    assert figures.waits_timed_out + figures.waits_failed_before == unanswered
    assert figures.waits_timed_out >= unanswered // 2  # most waited, and were timed out
    assert figures.wait_overrun_seconds < 10  # the timer fired on time, kills and all
