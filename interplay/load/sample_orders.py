"""Sample orders for each path through the reference system, for demos, load and tests.

A path is what the order is made to meet on purpose: a good order, a declined card, an item out
of stock, a destination no courier reaches, a card gateway that never answers.

Example::

    placed = order(DECLINED, number=3)   # an OrderPlaced whose card will be declined
"""

from __future__ import annotations

import uuid

from domains.orders.events import OrderCancelled, OrderCompleted, OrderLine, OrderPlaced

HAPPY, DECLINED, OUT_OF_STOCK, UNREACHABLE, TIMEOUT = (
    "happy",
    "declined",
    "out_of_stock",
    "unreachable",
    "timeout",
)
PATHS = (HAPPY, DECLINED, OUT_OF_STOCK, UNREACHABLE, TIMEOUT)

FINAL_EVENT = {path: OrderCancelled.message_type for path in PATHS} | {
    HAPPY: OrderCompleted.message_type
}
"""How the order of each path ends, as seen on ``interplay.events``."""

SKUS = ("SKU-BOOK", "SKU-MUG", "SKU-LAMP")
SOLD_OUT_SKU = "SKU-SOLD-OUT"
CARDS = {DECLINED: "tok_declined", TIMEOUT: "tok_timeout"}
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
