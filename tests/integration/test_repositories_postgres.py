"""The domains' repositories on PostgreSQL as on SQLite: the same code, the same behaviour.

Each test runs on both. They repeat steps concurrently, as two replicas of a service or a
redelivery would, since that is where conditional updates and unique keys earn their keep.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest

from domains.inventory import repository as inventory
from domains.inventory.events import CommitStock, ReleaseStock, ReserveStock
from domains.inventory.services import CATALOGUE, SOLD_OUT_SKU, OutOfStock, StockKeeper
from domains.notifications import repository as notifications
from domains.notifications.events import NotifyCustomer
from domains.notifications.services import Mailer
from domains.orders import repository as orders
from domains.orders.events import OrderCompleted, OrderLine, OrderRegistered, RegisterOrder
from domains.orders.services import OrderBook
from domains.payments import repository as payments
from domains.payments.events import AuthorisePayment, CapturePayment, VoidPayment
from domains.payments.services import PaymentGateway, PaymentStatus
from domains.shipping import repository as shipping
from domains.shipping.events import BookCourier, QuoteShipment
from domains.shipping.services import Courier, RateCard
from orchestrators.state.database import Database

pytestmark = pytest.mark.integration

ADMIN_URL = os.environ.get(
    "INTERPLAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
METADATAS = (
    payments.metadata,
    orders.metadata,
    inventory.metadata,
    shipping.metadata,
    notifications.metadata,
)
BOOK = "SKU-BOOK"
T = TypeVar("T")


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A database of this session's own, dropped at its end."""
    name = f"interplay_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://", 1)
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str
) -> AsyncIterator[Database]:
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'domain.sqlite3'}"
    database = Database(sqlite_url if request.param == "sqlite" else postgres_url)
    await database.create(*METADATAS)
    yield database
    async with database.engine.begin() as connection:
        for metadata in METADATAS:
            await connection.run_sync(metadata.drop_all)
    await database.close()


def lines(sku: str = BOOK, quantity: int = 1) -> tuple[OrderLine, ...]:
    return (OrderLine(sku=sku, quantity=quantity, unit_price_cents=1_000),)


async def repeated(times: int, step: Callable[[], Awaitable[T]]) -> list[T | BaseException]:
    """``step`` run ``times`` at once; refusals come back as values."""
    return await asyncio.gather(*(step() for _ in range(times)), return_exceptions=True)


async def test_an_order_registered_concurrently_is_priced_once(database: Database) -> None:
    book = OrderBook(orders.SqlOrderStore(database))
    command = RegisterOrder(
        order_id="ord-1",
        customer_id="cus-1",
        email="ada@example.com",
        items=lines(quantity=3),
        card_token="tok_visa",
        shipping_country="GB",
    )

    answers = await repeated(8, lambda: book.register(command))

    assert answers == [answers[0]] * 8
    assert answers[0] == OrderRegistered(amount_cents=3_000)


async def test_concurrent_captures_move_money_once(database: Database) -> None:
    ledger = payments.SqlPaymentLedger(database)
    gateway = PaymentGateway(ledger)
    await gateway.authorise(AuthorisePayment(order_id="ord-1", amount_cents=999, card_token="t"))

    await repeated(8, lambda: gateway.capture(CapturePayment(order_id="ord-1")))

    assert await ledger.totals() == {"captured": 999}


async def test_a_void_racing_its_authorisation_always_wins(database: Database) -> None:
    ledger = payments.SqlPaymentLedger(database)
    gateway = PaymentGateway(ledger)
    order_ids = [f"ord-{n}" for n in range(10)]

    await asyncio.gather(
        *(
            step
            for order_id in order_ids
            for step in (
                gateway.authorise(
                    AuthorisePayment(order_id=order_id, amount_cents=1, card_token="t")
                ),
                gateway.void(VoidPayment(order_id=order_id)),
            )
        ),
        return_exceptions=True,
    )

    for order_id in order_ids:
        payment = await ledger.get(order_id)
        assert payment is not None
        assert payment.status is PaymentStatus.VOIDED


async def test_concurrent_reservations_never_oversell(database: Database) -> None:
    await inventory.seed_stock(database, {"SKU-RARE": 5})
    ledger = inventory.SqlStockLedger(database)
    keeper = StockKeeper(ledger)

    answers = await asyncio.gather(
        *(
            keeper.reserve(ReserveStock(order_id=f"ord-{n}", items=lines("SKU-RARE")))
            for n in range(12)
        ),
        return_exceptions=True,
    )

    assert sum(isinstance(answer, OutOfStock) for answer in answers) == 7
    assert (await ledger.stock_levels())["SKU-RARE"] == (5, 5)


async def test_an_order_that_cannot_be_held_in_full_holds_nothing(database: Database) -> None:
    await inventory.seed_stock(database, CATALOGUE)
    ledger = inventory.SqlStockLedger(database)
    items = (*lines(BOOK, 2), *lines(SOLD_OUT_SKU, 1))

    with pytest.raises(OutOfStock, match=SOLD_OUT_SKU):
        await StockKeeper(ledger).reserve(ReserveStock(order_id="ord-1", items=items))

    assert (await ledger.stock_levels())[BOOK] == (CATALOGUE[BOOK], 0)


async def test_a_release_racing_its_reservation_holds_nothing_in_the_end(
    database: Database,
) -> None:
    await inventory.seed_stock(database, CATALOGUE)
    ledger = inventory.SqlStockLedger(database)
    keeper = StockKeeper(ledger)

    await asyncio.gather(
        *(
            step
            for n in range(10)
            for step in (
                keeper.reserve(ReserveStock(order_id=f"ord-{n}", items=lines(BOOK, 2))),
                keeper.release(ReleaseStock(order_id=f"ord-{n}")),
            )
        ),
        return_exceptions=True,
    )

    assert (await ledger.stock_levels())[BOOK] == (CATALOGUE[BOOK], 0)


async def test_stock_moves_one_way_when_commits_and_releases_race(database: Database) -> None:
    await inventory.seed_stock(database, CATALOGUE)
    ledger = inventory.SqlStockLedger(database)
    keeper = StockKeeper(ledger)
    await keeper.reserve(ReserveStock(order_id="ord-1", items=lines(BOOK, 2)))

    await asyncio.gather(
        *(keeper.commit(CommitStock(order_id="ord-1")) for _ in range(3)),
        *(keeper.release(ReleaseStock(order_id="ord-1")) for _ in range(3)),
        return_exceptions=True,
    )

    on_hand, reserved = (await ledger.stock_levels())[BOOK]
    assert reserved == 0
    assert on_hand in (CATALOGUE[BOOK], CATALOGUE[BOOK] - 2)


async def test_starting_replicas_together_seed_the_catalogue_once(database: Database) -> None:
    await repeated(3, lambda: inventory.seed_stock(database, CATALOGUE))

    levels = await inventory.SqlStockLedger(database).stock_levels()
    assert levels == {sku: (units, 0) for sku, units in CATALOGUE.items()}


async def test_concurrent_bookings_book_one_courier(database: Database) -> None:
    store = shipping.SqlShipmentStore(database)
    quote = await RateCard(store).quote(
        QuoteShipment(order_id="ord-1", items=lines(), shipping_country="GB")
    )
    courier = Courier(store)
    command = BookCourier(order_id="ord-1", quote_id=quote.quote_id, shipping_country="GB")

    bookings = await repeated(6, lambda: courier.book(command))

    assert len(set(bookings)) == 1


async def test_a_customer_is_told_once_however_often_the_step_repeats(
    database: Database,
) -> None:
    log = notifications.SqlNotificationLog(database)
    mailer = Mailer(log)
    command = NotifyCustomer(
        order_id="ord-1", trigger=OrderCompleted.message_type, email="a@b.c", tracking_number="T"
    )

    sent = await repeated(6, lambda: mailer.notify(command))

    assert len(set(sent)) == 1
    assert len(await log.of_order("ord-1")) == 1
