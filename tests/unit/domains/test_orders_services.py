"""The order book against its real SQL store: an order is priced once and ends one way."""

from __future__ import annotations

import pytest

from domains.orders import repository
from domains.orders.events import (
    CancelOrder,
    CompleteOrder,
    OrderLine,
    RegisterOrder,
    RejectOrder,
)
from domains.orders.services import (
    OrderBook,
    OrderClosedOtherwise,
    OrderConflict,
    OrderStatus,
    UnknownOrder,
)
from orchestrators.state.database import Database, create_tables

ORDER = "ord-1"
EMAIL = "ada@example.com"
LINES = (
    OrderLine(sku="SKU-BOOK", quantity=2, unit_price_cents=1_250),
    OrderLine(sku="SKU-MUG", quantity=1, unit_price_cents=999),
)


@pytest.fixture
async def store(database: Database) -> repository.SqlOrderStore:
    await create_tables(database, repository.metadata)
    return repository.SqlOrderStore(database)


@pytest.fixture
def book(store: repository.SqlOrderStore) -> OrderBook:
    return OrderBook(store)


def registration(lines: tuple[OrderLine, ...] = LINES) -> RegisterOrder:
    return RegisterOrder(
        order_id=ORDER,
        customer_id="cus-1",
        email=EMAIL,
        items=lines,
        card_token="tok_visa",
        shipping_country="GB",
    )


async def test_a_registered_order_is_priced_in_cents(book: OrderBook) -> None:
    registered = await book.register(registration())

    assert registered.amount_cents == 2 * 1_250 + 999


async def test_registering_the_same_order_again_gives_the_same_answer(book: OrderBook) -> None:
    first = await book.register(registration())
    again = await book.register(registration())

    assert again == first


async def test_the_same_order_id_with_other_lines_is_refused(
    book: OrderBook, store: repository.SqlOrderStore
) -> None:
    await book.register(registration())
    other_lines = (OrderLine(sku="SKU-LAMP", quantity=1, unit_price_cents=5_000),)

    with pytest.raises(OrderConflict):
        await book.register(registration(other_lines))

    kept = await store.get(ORDER)
    assert kept is not None
    assert kept.lines == LINES


async def test_completing_an_order_answers_the_customers_address(
    book: OrderBook, store: repository.SqlOrderStore
) -> None:
    await book.register(registration())

    closed = await book.complete(CompleteOrder(order_id=ORDER, tracking_number="TRK1"))

    assert closed.email == EMAIL
    order = await store.get(ORDER)
    assert order is not None
    assert (order.status, order.tracking_number) == (OrderStatus.COMPLETED, "TRK1")


async def test_completing_twice_is_a_success(book: OrderBook) -> None:
    await book.register(registration())
    command = CompleteOrder(order_id=ORDER, tracking_number="TRK1")

    assert await book.complete(command) == await book.complete(command)


async def test_a_cancelled_order_keeps_its_first_reason(
    book: OrderBook, store: repository.SqlOrderStore
) -> None:
    await book.register(registration())

    first = await book.cancel(CancelOrder(order_id=ORDER, reason="card declined"))
    again = await book.cancel(CancelOrder(order_id=ORDER, reason="told again"))

    assert first == again
    order = await store.get(ORDER)
    assert order is not None
    assert (order.status, order.reason) == (OrderStatus.CANCELLED, "card declined")


async def test_a_cancelled_order_cannot_be_completed(book: OrderBook) -> None:
    await book.register(registration())
    await book.cancel(CancelOrder(order_id=ORDER, reason="out of stock"))

    with pytest.raises(OrderClosedOtherwise):
        await book.complete(CompleteOrder(order_id=ORDER, tracking_number="TRK1"))


async def test_a_completed_order_cannot_be_cancelled(book: OrderBook) -> None:
    await book.register(registration())
    await book.complete(CompleteOrder(order_id=ORDER, tracking_number="TRK1"))

    with pytest.raises(OrderClosedOtherwise):
        await book.cancel(CancelOrder(order_id=ORDER, reason="too late"))


async def test_closing_an_order_never_registered_is_refused(book: OrderBook) -> None:
    with pytest.raises(UnknownOrder):
        await book.cancel(CancelOrder(order_id="ord-unknown", reason="payment failed"))


async def test_rejecting_a_registration_that_timed_out_leaves_the_order_rejected(
    book: OrderBook, store: repository.SqlOrderStore
) -> None:
    await book.register(registration())
    await book.reject(RejectOrder(order_id=ORDER, reason="register timed out"))
    await book.reject(RejectOrder(order_id=ORDER, reason="register timed out"))  # a repeat

    order = await store.get(ORDER)
    assert order is not None
    assert order.status is OrderStatus.REJECTED
    assert order.reason == "register timed out"


async def test_a_registration_arriving_after_its_rejection_is_refused(
    book: OrderBook, store: repository.SqlOrderStore
) -> None:
    await book.reject(RejectOrder(order_id=ORDER, reason="register timed out"))

    with pytest.raises(OrderConflict):
        await book.register(registration())
    order = await store.get(ORDER)
    assert order is not None
    assert order.status is OrderStatus.REJECTED
