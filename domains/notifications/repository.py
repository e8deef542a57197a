"""The notifications' state in the domain's own database (SQLite or PostgreSQL, the same code).

``notifications`` holds one row per message, unique per order and trigger, so that no customer
is told the same thing twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, MetaData, String, Table, Text, UniqueConstraint, insert, select
from sqlalchemy.exc import IntegrityError

from domains.notifications.services import Notification
from orchestrators.state.database import Database

metadata = MetaData()

notifications = Table(
    "notifications",
    metadata,
    Column("notification_id", String(64), primary_key=True),
    Column("order_id", String(64), nullable=False),
    Column("trigger", String(100), nullable=False),
    Column("email", String(254)),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("order_id", "trigger"),
)


class SqlNotificationLog:
    """``NotificationLog`` on SQLAlchemy Core."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def record(self, notification: Notification) -> Notification:
        try:
            async with self.database.begin() as connection:
                await connection.execute(
                    insert(notifications).values(
                        notification_id=notification.notification_id,
                        order_id=notification.order_id,
                        trigger=notification.trigger,
                        email=notification.email,
                        subject=notification.subject,
                        body=notification.body,
                    )
                )
            return notification
        except IntegrityError:
            stored = await self._select(
                (notifications.c.order_id == notification.order_id)
                & (notifications.c.trigger == notification.trigger)
            )
            assert stored, "a notification that collided on insert must exist"
            return stored[0]

    async def of_order(self, order_id: str) -> list[Notification]:
        """What the customer of ``order_id`` was told, oldest trigger first by name."""
        return await self._select(notifications.c.order_id == order_id)

    async def _select(self, condition: Any) -> list[Notification]:
        async with self.database.connect() as connection:
            rows = await connection.execute(
                select(notifications).where(condition).order_by(notifications.c.trigger)
            )
            return [
                Notification(
                    notification_id=row.notification_id,
                    order_id=row.order_id,
                    trigger=row.trigger,
                    email=row.email,
                    subject=row.subject,
                    body=row.body,
                )
                for row in rows
            ]
