"""The notifications domain's contracts."""

from __future__ import annotations

from typing import ClassVar

from orchestrators import Command, Event, Reply


class CustomerNotified(Event):
    """The customer was told how their order ended."""

    message_type: ClassVar[str] = "notifications.customer.notified"
    order_id: str
    notification_id: str
    subject: str


class NotifyCustomer(Command):
    message_type: ClassVar[str] = "notifications.customer.notify"
    order_id: str
    trigger: str  # the event being told about, e.g. orders.order.completed
    email: str | None = None
    reason: str | None = None
    tracking_number: str | None = None


class NotificationSent(Reply):
    message_type: ClassVar[str] = "notifications.customer.notification_sent"
    notification_id: str
    subject: str
