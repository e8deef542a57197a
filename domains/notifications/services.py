"""The notifications domain's business rules: a mailer that tells customers how their order ended.

The mailer records what the customer is told, once per order and outcome: a repeat of the step
returns the stored notification, so nobody gets the same news twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from domains.notifications.events import NotificationSent, NotifyCustomer
from domains.orders.events import OrderCancelled, OrderCompleted, OrderRejected
from orchestrators import Refused


@dataclass(frozen=True, slots=True)
class Notification:
    notification_id: str
    order_id: str
    trigger: str  # the event told about, e.g. orders.order.completed
    email: str | None  # None when the outcome carried no address: kept for the storefront
    subject: str
    body: str


class NothingToTell(Refused):
    """The mailer has no message for this kind of event."""


class NotificationLog(Protocol):
    """The port to the notifications sent; ``SqlNotificationLog`` implements it."""

    async def record(self, notification: Notification) -> Notification:
        """Store a new notification, or return the one stored for the same order and trigger."""


class Mailer:
    """Writes to customers about their orders."""

    def __init__(self, log: NotificationLog, shop_name: str = "interplay") -> None:
        self.log = log
        self.shop_name = shop_name

    async def notify(self, command: NotifyCustomer) -> NotificationSent:
        subject, news = self._news(command)
        notification = await self.log.record(
            Notification(
                notification_id=f"ntf_{uuid.uuid4().hex[:16]}",
                order_id=command.order_id,
                trigger=command.trigger,
                email=command.email,
                subject=subject,
                body=f"Hello,\n\n{news}\n\n{self.shop_name}\n",
            )
        )
        return NotificationSent(
            notification_id=notification.notification_id, subject=notification.subject
        )

    @staticmethod
    def _news(command: NotifyCustomer) -> tuple[str, str]:
        """The subject and the news of the message about ``command.trigger``."""
        order = command.order_id
        match command.trigger:
            case OrderCompleted.message_type:
                return (
                    f"Your order {order} is on its way (tracking {command.tracking_number})",
                    f"Your order {order} was handed to the courier. Follow it with the "
                    f"tracking number {command.tracking_number}.",
                )
            case OrderCancelled.message_type:
                return (
                    f"Your order {order} was cancelled: {command.reason}",
                    f"We could not complete your order {order} ({command.reason}). "
                    "Any payment was refunded and nothing will be sent.",
                )
            case OrderRejected.message_type:
                return (
                    f"Your order {order} could not be accepted: {command.reason}",
                    f"We could not accept your order {order} ({command.reason}). "
                    "Nothing was charged.",
                )
        raise NothingToTell(f"no message for {command.trigger} of order {order}")
