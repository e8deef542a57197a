"""The payments domain's contracts: what it publishes, and the commands its gateway takes.

Amounts are integer cents, so that no reader in any language rounds them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from domains.orders.events import OrderLine
from orchestrators import Command, Event, Reply


class PaymentCaptured(Event):
    """The customer's money was taken for the order; shipping comes next."""

    message_type: ClassVar[str] = "payments.payment.captured"
    order_id: str
    payment_id: str
    amount_cents: int
    items: tuple[OrderLine, ...]
    shipping_country: str


class PaymentFailed(Event):
    """No money was taken: the card was declined or the gateway did not answer in time."""

    message_type: ClassVar[str] = "payments.payment.failed"
    order_id: str
    reason: str


class PaymentRefunded(Event):
    """Money taken for the order was given back (the order could not be shipped)."""

    message_type: ClassVar[str] = "payments.payment.refunded"
    order_id: str
    refunded_cents: int


class ChallengeOutcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"


class ChallengeCompleted(Event):
    """The customer answered the card's challenge (3-D Secure) of the order: the payment waits
    for this, with the order's correlation id, before it captures."""

    message_type: ClassVar[str] = "payments.challenge.completed"
    order_id: str
    outcome: ChallengeOutcome


class AuthorisePayment(Command):
    message_type: ClassVar[str] = "payments.payment.authorise"
    order_id: str
    amount_cents: int = Field(gt=0)
    card_token: str


class PaymentAuthorised(Reply):
    message_type: ClassVar[str] = "payments.payment.authorised"
    payment_id: str
    challenge_required: bool = False  # the card asks the customer to answer a challenge first


class CapturePayment(Command):
    message_type: ClassVar[str] = "payments.payment.capture"
    order_id: str


class PaymentCaptureRecorded(Reply):
    message_type: ClassVar[str] = "payments.payment.capture_recorded"
    captured_cents: int


class VoidPayment(Command):
    """Compensation of ``AuthorisePayment``: release the hold on the card."""

    message_type: ClassVar[str] = "payments.payment.void"
    order_id: str


class RefundPayment(Command):
    """Compensation of ``CapturePayment``, and the step of the refund workflow."""

    message_type: ClassVar[str] = "payments.payment.refund"
    order_id: str


class RefundRecorded(Reply):
    message_type: ClassVar[str] = "payments.payment.refund_recorded"
    refunded_cents: int
