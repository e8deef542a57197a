"""The stock keeper against its real SQL ledger: stock is held all or nothing, and moves once."""

from __future__ import annotations

import pytest

from domains.inventory import repository
from domains.inventory.events import CommitStock, ReleaseStock, ReserveStock
from domains.inventory.services import (
    CATALOGUE,
    SOLD_OUT_SKU,
    OutOfStock,
    ReservationClosed,
    StockKeeper,
    UnknownSku,
)
from domains.orders.events import OrderLine
from orchestrators.state.database import Database, create_tables

ORDER = "ord-1"
BOOK, MUG = "SKU-BOOK", "SKU-MUG"


@pytest.fixture(autouse=True)
async def tables(database: Database) -> None:
    """The domain's tables, as its migrations make them before the stock is seeded."""
    await create_tables(database, repository.metadata)


@pytest.fixture
async def ledger(database: Database) -> repository.SqlStockLedger:
    await repository.seed_stock(database, CATALOGUE)
    return repository.SqlStockLedger(database)


@pytest.fixture
def keeper(ledger: repository.SqlStockLedger) -> StockKeeper:
    return StockKeeper(ledger)


def reservation(*lines: tuple[str, int], order_id: str = ORDER) -> ReserveStock:
    items = tuple(OrderLine(sku=sku, quantity=q, unit_price_cents=100) for sku, q in lines)
    return ReserveStock(order_id=order_id, items=items)


async def test_a_new_warehouse_is_stocked_with_the_catalogue(
    ledger: repository.SqlStockLedger,
) -> None:
    assert await ledger.stock_levels() == {sku: (units, 0) for sku, units in CATALOGUE.items()}


async def test_reserving_holds_the_stock(
    keeper: StockKeeper, ledger: repository.SqlStockLedger
) -> None:
    await keeper.reserve(reservation((BOOK, 2), (MUG, 1)))

    levels = await ledger.stock_levels()
    assert levels[BOOK] == (CATALOGUE[BOOK], 2)
    assert levels[MUG] == (CATALOGUE[MUG], 1)


async def test_reserving_twice_holds_once(
    keeper: StockKeeper, ledger: repository.SqlStockLedger
) -> None:
    first = await keeper.reserve(reservation((BOOK, 2)))
    again = await keeper.reserve(reservation((BOOK, 2)))

    assert again == first
    assert (await ledger.stock_levels())[BOOK] == (CATALOGUE[BOOK], 2)


async def test_lines_of_one_sku_are_held_together(
    keeper: StockKeeper, ledger: repository.SqlStockLedger
) -> None:
    await keeper.reserve(reservation((BOOK, 2), (BOOK, 3)))

    assert (await ledger.stock_levels())[BOOK] == (CATALOGUE[BOOK], 5)


async def test_out_of_stock_holds_nothing(
    keeper: StockKeeper, ledger: repository.SqlStockLedger
) -> None:
    with pytest.raises(OutOfStock, match=SOLD_OUT_SKU):
        await keeper.reserve(reservation((BOOK, 1), (SOLD_OUT_SKU, 1)))

    assert (await ledger.stock_levels())[BOOK] == (CATALOGUE[BOOK], 0)
    assert await ledger.get(ORDER) is None


async def test_an_unknown_sku_is_refused(
    keeper: StockKeeper, ledger: repository.SqlStockLedger
) -> None:
    with pytest.raises(UnknownSku, match="SKU-NOPE"):
        await keeper.reserve(reservation((BOOK, 1), ("SKU-NOPE", 1)))

    assert (await ledger.stock_levels())[BOOK] == (CATALOGUE[BOOK], 0)


async def test_no_more_than_is_on_hand_can_be_held(database: Database) -> None:
    await repository.seed_stock(database, {"SKU-RARE": 3})
    keeper = StockKeeper(repository.SqlStockLedger(database))
    await keeper.reserve(reservation(("SKU-RARE", 2), order_id="ord-1"))

    with pytest.raises(OutOfStock, match="1 available, 2 wanted"):
        await keeper.reserve(reservation(("SKU-RARE", 2), order_id="ord-2"))
    await keeper.reserve(reservation(("SKU-RARE", 1), order_id="ord-3"))


async def test_committing_takes_the_goods_off_the_shelf_once(
    keeper: StockKeeper, ledger: repository.SqlStockLedger
) -> None:
    await keeper.reserve(reservation((BOOK, 2)))

    await keeper.commit(CommitStock(order_id=ORDER))
    await keeper.commit(CommitStock(order_id=ORDER))

    assert (await ledger.stock_levels())[BOOK] == (CATALOGUE[BOOK] - 2, 0)


async def test_releasing_makes_the_stock_available_again_once(
    keeper: StockKeeper, ledger: repository.SqlStockLedger
) -> None:
    await keeper.reserve(reservation((BOOK, 2)))

    await keeper.release(ReleaseStock(order_id=ORDER))
    await keeper.release(ReleaseStock(order_id=ORDER))

    assert (await ledger.stock_levels())[BOOK] == (CATALOGUE[BOOK], 0)


async def test_release_before_reserve_makes_a_late_reservation_fail(
    keeper: StockKeeper, ledger: repository.SqlStockLedger
) -> None:
    await keeper.release(ReleaseStock(order_id=ORDER))

    with pytest.raises(ReservationClosed):
        await keeper.reserve(reservation((BOOK, 2)))

    assert (await ledger.stock_levels())[BOOK] == (CATALOGUE[BOOK], 0)


async def test_stock_that_left_cannot_be_released(
    keeper: StockKeeper, ledger: repository.SqlStockLedger
) -> None:
    await keeper.reserve(reservation((BOOK, 2)))
    await keeper.commit(CommitStock(order_id=ORDER))

    with pytest.raises(ReservationClosed):
        await keeper.release(ReleaseStock(order_id=ORDER))

    assert (await ledger.stock_levels())[BOOK] == (CATALOGUE[BOOK] - 2, 0)


async def test_released_stock_cannot_be_committed(keeper: StockKeeper) -> None:
    await keeper.reserve(reservation((BOOK, 2)))
    await keeper.release(ReleaseStock(order_id=ORDER))

    with pytest.raises(ReservationClosed):
        await keeper.commit(CommitStock(order_id=ORDER))


async def test_committing_what_was_never_reserved_is_refused(keeper: StockKeeper) -> None:
    with pytest.raises(ReservationClosed):
        await keeper.commit(CommitStock(order_id=ORDER))


async def test_restarting_never_refills_the_warehouse(
    keeper: StockKeeper, ledger: repository.SqlStockLedger, database: Database
) -> None:
    await keeper.reserve(reservation((BOOK, 2)))
    await keeper.commit(CommitStock(order_id=ORDER))

    await repository.seed_stock(database, CATALOGUE)

    assert (await ledger.stock_levels())[BOOK] == (CATALOGUE[BOOK] - 2, 0)
