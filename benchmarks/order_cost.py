"""What one happy order costs the whole system: CPU, SQL statements and transactions.

Orders run one at a time through the system in this process (``OrderSystem``), after a few to
warm up; a listener on SQLAlchemy's engines counts each domain's statements by table, and its
commits. Example::

    python -m benchmarks.order_cost orchestration 20
    python -m benchmarks.order_cost choreography 20
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event

from benchmarks.order_system import OrderSystem
from benchmarks.vhost import fresh_vhost
from interplay.supervisor import System
from orchestrators import Pattern

WARMUP = 3


class StatementCount:
    """Statements (by database, verb and table) and commits, over every database of a system.

    It listens on SQLAlchemy's ``Engine`` class, so that it sees every engine a ``Database``
    runs statements on (the asyncio engine's and, for SQLite, the inline one) without asking
    the ``Database`` for them; a statement is the database's whose file its engine opened.
    """

    def __init__(self) -> None:
        self.statements: Counter[str] = Counter()
        self.commits = 0
        self._names: dict[str, str] = {}

    def listen(self, system: System) -> None:
        self._names = {
            str(database.url.database): Path(str(database.url.database)).stem
            for database in system.databases
        }
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "commit", self._commit)

    def stop(self) -> None:
        event.remove(Engine, "before_cursor_execute", self._statement)
        event.remove(Engine, "commit", self._commit)

    def _statement(self, connection: Connection, *arguments: Any) -> None:
        name = self._names.get(str(connection.engine.url.database))
        if name is not None:
            self.statements[f"{name}: {_verb_and_table(arguments[1])}"] += 1

    def _commit(self, connection: Connection) -> None:
        if str(connection.engine.url.database) in self._names:
            self.commits += 1


def _verb_and_table(sql: str) -> str:
    words = sql.split()
    verb = words[0].upper()
    if verb in ("INSERT", "DELETE"):
        return f"{verb} {words[2]}"
    if verb == "UPDATE":
        return f"{verb} {words[1]}"
    after_from = sql.split(" FROM ", 1)
    return f"{verb} {after_from[1].split()[0]}" if len(after_from) == 2 else verb


async def measure(pattern: Pattern, orders: int) -> None:
    with fresh_vhost("interplay-cost") as url, tempfile.TemporaryDirectory() as data:
        system = OrderSystem(url, pattern, Path(data))
        await system.start()
        try:
            for _ in range(WARMUP):
                await system.run_flow()
            count = StatementCount()
            count.listen(system.system)
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(orders):
                await system.run_flow()
            await asyncio.sleep(0.5)  # the outbox relays mark what they sent
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            count.stop()
        finally:
            await system.stop()
    print(
        f"{pattern.value}: {cpu / orders * 1000:.1f} ms CPU and {wall / orders * 1000:.1f} ms "
        f"per order; {sum(count.statements.values()) / orders:.1f} statements and "
        f"{count.commits / orders:.1f} commits per order"
    )
    for name, seen in sorted(count.statements.items(), key=lambda item: -item[1]):
        print(f"  {seen / orders:5.1f}  {name}")


if __name__ == "__main__":
    asyncio.run(measure(Pattern(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 20))
