"""Sample orders for each path through the reference system, for demos, load and tests.

A path is what the order is made to meet on purpose: a good order, a declined card, an item out
of stock, a destination no courier reaches, a card gateway that never answers, a card that asks
the customer for a challenge (3-D Secure) that is approved, declined or left unanswered (the
payment waits for ``payments.challenge.completed``; ``challenge_answer`` is what to publish).

Example::

    placed = order(DECLINED, number=3)   # an OrderPlaced whose card will be declined
"""

from __future__ import annotations

import uuid

from domains.orders.events import OrderCancelled, OrderCompleted, OrderLine, OrderPlaced
from domains.payments.events import ChallengeCompleted, ChallengeOutcome

HAPPY, DECLINED, OUT_OF_STOCK, UNREACHABLE, TIMEOUT = (
    "happy",
    "declined",
    "out_of_stock",
    "unreachable",
    "timeout",
)
CHALLENGE_APPROVED, CHALLENGE_DECLINED, CHALLENGE_UNANSWERED = (
    "3ds_approved",
    "3ds_declined",
    "3ds_unanswered",
)
CHALLENGED = (CHALLENGE_APPROVED, CHALLENGE_DECLINED, CHALLENGE_UNANSWERED)
PATHS = (HAPPY, DECLINED, OUT_OF_STOCK, UNREACHABLE, TIMEOUT, *CHALLENGED)

FINAL_EVENT = {path: OrderCancelled.message_type for path in PATHS} | {
    HAPPY: OrderCompleted.message_type,
    CHALLENGE_APPROVED: OrderCompleted.message_type,
}
"""How the order of each path ends, as seen on ``interplay.events``."""

SKUS = ("SKU-BOOK", "SKU-MUG", "SKU-LAMP")
SOLD_OUT_SKU = "SKU-SOLD-OUT"
CARDS = {DECLINED: "tok_declined", TIMEOUT: "tok_timeout"} | dict.fromkeys(CHALLENGED, "tok_3ds")
ANSWERS = {
    CHALLENGE_APPROVED: ChallengeOutcome.APPROVED,
    CHALLENGE_DECLINED: ChallengeOutcome.DECLINED,
}
NO_COURIER_COUNTRY = "AQ"


def order(path: str, number: int = 0) -> OrderPlaced:
    """An order that takes ``path`` through the system; ``number`` varies the goods."""
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; known: {', '.join(PATHS)}")
    sku = SOLD_OUT_SKU if path == OUT_OF_STOCK else SKUS[number % len(SKUS)]
    return OrderPlaced(
        order_id=f"ord-{path}-{number}-{uuid.uuid4().hex[:6]}",
        customer_id=f"cus-{number}",
        email=f"customer{number}@example.com",
        items=(OrderLine(sku=sku, quantity=1 + number % 3, unit_price_cents=1250),),
        card_token=CARDS.get(path, "tok_visa"),
        shipping_country=NO_COURIER_COUNTRY if path == UNREACHABLE else "NL",
    )


def challenge_answer(path: str, placed: OrderPlaced) -> ChallengeCompleted | None:
    """The customer's answer to the challenge of an order of ``path``, to publish with the
    order's correlation id; None when the path leaves it unanswered, or asks none."""
    outcome = ANSWERS.get(path)
    if outcome is None:
        return None
    return ChallengeCompleted(order_id=placed.order_id, outcome=outcome)
