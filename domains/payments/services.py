"""The payments domain's business rules: a card gateway that authorises, captures, voids, refunds.

Every operation is idempotent per order, because a step may be sent again after a crash: the
ledger records each movement of money once per order and kind, and a state change happens only
from the state it expects. The test card tokens trigger the failure paths on purpose:
``tok_declined`` is declined at authorisation, ``tok_timeout`` makes the capture hang, ``tok_3ds``
asks for a challenge (the workflow waits for ``payments.challenge.completed``).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from domains.payments.events import (
    AuthorisePayment,
    CapturePayment,
    PaymentAuthorised,
    PaymentCaptureRecorded,
    RefundPayment,
    RefundRecorded,
    VoidPayment,
)
from orchestrators import Refused

DECLINED_CARD = "tok_declined"
HANGING_CARD = "tok_timeout"
CHALLENGED_CARD = "tok_3ds"


class PaymentStatus(StrEnum):
    AUTHORISED = "authorised"
    CAPTURED = "captured"
    VOIDED = "voided"
    REFUNDED = "refunded"


@dataclass(frozen=True, slots=True)
class Payment:
    order_id: str
    payment_id: str
    amount_cents: int
    card_token: str
    status: PaymentStatus


class CardDeclined(Refused):
    """The card issuer declined the authorisation."""


class PaymentNotCapturable(Refused):
    """The payment is not in a state that can be captured (voided, or never authorised)."""


class PaymentLedger(Protocol):
    """The port to the payments' state; ``SqlPaymentLedger`` implements it."""

    async def get(self, order_id: str) -> Payment | None: ...

    async def authorise(self, payment: Payment) -> Payment:
        """Store a new authorised payment, or return the order's existing one."""

    async def move(
        self, order_id: str, source: PaymentStatus, target: PaymentStatus, amount_cents: int
    ) -> bool:
        """Change status from ``source`` to ``target`` and record ``amount_cents`` in the ledger
        as one movement of kind ``target``; False when the payment was not in ``source``."""

    async def void_missing(self, order_id: str) -> None:
        """Record a voided payment for an order that has none, so a late authorisation fails."""


class PaymentGateway:
    """Takes card payments for orders."""

    def __init__(self, ledger: PaymentLedger, hang_seconds: float = 30.0) -> None:
        self.ledger = ledger
        self.hang_seconds = hang_seconds

    async def authorise(self, command: AuthorisePayment) -> PaymentAuthorised:
        if command.card_token == DECLINED_CARD:
            raise CardDeclined(f"card declined for order {command.order_id}")
        payment = await self.ledger.authorise(
            Payment(
                order_id=command.order_id,
                payment_id=f"pay_{uuid.uuid4().hex[:16]}",
                amount_cents=command.amount_cents,
                card_token=command.card_token,
                status=PaymentStatus.AUTHORISED,
            )
        )
        if payment.status is PaymentStatus.VOIDED:
            raise PaymentNotCapturable(f"payment of order {command.order_id} was voided")
        return PaymentAuthorised(
            payment_id=payment.payment_id, challenge_required=command.card_token == CHALLENGED_CARD
        )

    async def capture(self, command: CapturePayment) -> PaymentCaptureRecorded:
        payment = await self._payment(command.order_id)
        if payment.card_token == HANGING_CARD:
            await asyncio.sleep(self.hang_seconds)
            raise PaymentNotCapturable("the card gateway did not answer")
        moved = await self.ledger.move(
            payment.order_id, PaymentStatus.AUTHORISED, PaymentStatus.CAPTURED, payment.amount_cents
        )
        if not moved:  # captured already (a repeat of this step) or voided meanwhile
            current = await self._payment(command.order_id)
            if current.status is not PaymentStatus.CAPTURED:
                raise PaymentNotCapturable(f"payment of {command.order_id} is {current.status}")
        return PaymentCaptureRecorded(captured_cents=payment.amount_cents)

    async def void(self, command: VoidPayment) -> None:
        if await self.ledger.get(command.order_id) is None:
            # Nothing was authorised (yet): the tombstone makes a late authorisation fail. Should
            # the authorisation slip in first, the conditional void below undoes it.
            await self.ledger.void_missing(command.order_id)
        await self.ledger.move(command.order_id, PaymentStatus.AUTHORISED, PaymentStatus.VOIDED, 0)

    async def refund(self, command: RefundPayment) -> RefundRecorded:
        # Not captured (yet), as when the capture timed out: void the authorisation, so that a
        # capture landing late fails instead of taking money for a failed order.
        await self.ledger.move(command.order_id, PaymentStatus.AUTHORISED, PaymentStatus.VOIDED, 0)
        payment = await self.ledger.get(command.order_id)
        if payment is None or payment.status is PaymentStatus.VOIDED:
            return RefundRecorded(refunded_cents=0)  # nothing was taken: nothing to give back
        await self.ledger.move(
            command.order_id, PaymentStatus.CAPTURED, PaymentStatus.REFUNDED, payment.amount_cents
        )
        return RefundRecorded(refunded_cents=payment.amount_cents)

    async def _payment(self, order_id: str) -> Payment:
        payment = await self.ledger.get(order_id)
        if payment is None:
            raise PaymentNotCapturable(f"order {order_id} has no authorised payment")
        return payment
