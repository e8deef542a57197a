"""Read each domain's books from its database, as an auditor would after a run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.databases import query, sqlite_url


@dataclass(frozen=True)
class Books:
    order_status: dict[str, str]  # order id -> status
    stock: dict[str, tuple[int, int]]  # sku -> (on hand, reserved)
    payment_status: dict[str, str]  # order id -> status
    money_moved: dict[str, int]  # movement kind -> cents
    repeated_movements: int  # (order, kind) pairs recorded more than once: must be 0
    notifications: dict[str, int]  # order id -> notifications sent


def read_books(databases: Path | str) -> Books:
    """The books in ``databases``: a folder of SQLite files, or an ``INTERPLAY_DATABASE_URL``."""
    url = sqlite_url(databases) if isinstance(databases, Path) else databases

    def rows(domain: str, sql: str) -> list[tuple[object, ...]]:
        return query(url, domain, sql)

    notified: dict[str, int] = {}
    for (order_id,) in rows("notifications", "SELECT order_id FROM notifications"):
        notified[str(order_id)] = notified.get(str(order_id), 0) + 1
    return Books(
        order_status={
            str(o): str(s) for o, s in rows("orders", "SELECT order_id, status FROM orders")
        },
        stock={
            str(sku): (int(on_hand), int(reserved))  # type: ignore[call-overload]
            for sku, on_hand, reserved in rows(
                "inventory", "SELECT sku, on_hand, reserved FROM stock"
            )
        },
        payment_status={
            str(o): str(s) for o, s in rows("payments", "SELECT order_id, status FROM payments")
        },
        money_moved={
            str(kind): int(total)  # type: ignore[call-overload]
            for kind, total in rows(
                "payments", "SELECT kind, SUM(amount_cents) FROM payment_movements GROUP BY kind"
            )
        },
        repeated_movements=len(
            rows(
                "payments",
                "SELECT order_id, kind FROM payment_movements GROUP BY order_id, kind "
                "HAVING COUNT(*) > 1",
            )
        ),
        notifications=notified,
    )
