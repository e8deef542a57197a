"""The payments domain's workflows: take the payment once stock is held (after the customer's
answer to the card's challenge, when the card asks one); refund it when the order cannot be
shipped."""

from collections.abc import Mapping
from typing import Any

from domains.inventory.events import StockReserved
from domains.payments.events import (
    AuthorisePayment,
    CapturePayment,
    ChallengeCompleted,
    ChallengeOutcome,
    PaymentCaptured,
    PaymentFailed,
    PaymentRefunded,
    RefundPayment,
    VoidPayment,
)
from domains.shipping.events import ShipmentFailed
from orchestrators import Event, Step, WaitFor, Workflow

CHALLENGE_TIMEOUT = 600.0  # seconds a customer has to answer (INTERPLAY_WAIT_TIMEOUT overrides)


def challenge_required(context: Mapping[str, Any]) -> bool:
    return bool(context.get("challenge_required"))


def same_order(answer: Event, context: Mapping[str, Any]) -> bool:
    return isinstance(answer, ChallengeCompleted) and answer.order_id == context["order_id"]


def challenge_declined(answer: Event) -> str | None:
    assert isinstance(answer, ChallengeCompleted)
    if answer.outcome is ChallengeOutcome.APPROVED:
        return None
    return f"the card's challenge was declined for order {answer.order_id}"


challenge = WaitFor(
    ChallengeCompleted,
    timeout=CHALLENGE_TIMEOUT,
    when=challenge_required,
    match=same_order,
    refused=challenge_declined,
)

take_payment = Workflow(
    name="take_payment",
    triggers=(StockReserved,),
    steps=(
        Step(
            "authorise",
            service="gateway",
            command=AuthorisePayment,
            compensation=VoidPayment,
            wait=challenge,
        ),
        Step("capture", service="gateway", command=CapturePayment, compensation=RefundPayment),
    ),
    completed=PaymentCaptured,
    failed=PaymentFailed,
)

refund_payment = Workflow(
    name="refund_payment",
    triggers=(ShipmentFailed,),
    steps=(Step("refund", service="gateway", command=RefundPayment),),
    completed=PaymentRefunded,
)

workflows = (take_payment, refund_payment)
