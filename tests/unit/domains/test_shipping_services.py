"""Rates, courier and labels against their real SQL store: a shipment is booked once, and a
cancelled one stays cancelled."""

from __future__ import annotations

import pytest

from domains.orders.events import OrderLine
from domains.shipping import repository
from domains.shipping.events import (
    BookCourier,
    CancelCourier,
    PrintLabel,
    QuoteShipment,
    VoidLabel,
)
from domains.shipping.services import (
    UNREACHABLE_COUNTRY,
    Courier,
    DestinationUnreachable,
    LabelPrinter,
    RateCard,
    ShipmentCancelled,
    ShipmentNotReady,
    ShipmentStatus,
)
from orchestrators.state.database import Database, create_tables

ORDER = "ord-1"


@pytest.fixture
async def shipments(database: Database) -> repository.SqlShipmentStore:
    await create_tables(database, repository.metadata)
    return repository.SqlShipmentStore(database)


@pytest.fixture
def rates(shipments: repository.SqlShipmentStore) -> RateCard:
    return RateCard(shipments, base_cost_cents=500, per_item_cents=100)


@pytest.fixture
def courier(shipments: repository.SqlShipmentStore) -> Courier:
    return Courier(shipments)


@pytest.fixture
def labels(shipments: repository.SqlShipmentStore) -> LabelPrinter:
    return LabelPrinter(shipments)


def quote_request(*quantities: int) -> QuoteShipment:
    items = tuple(OrderLine(sku="SKU-BOOK", quantity=q, unit_price_cents=100) for q in quantities)
    return QuoteShipment(order_id=ORDER, items=items, shipping_country="GB")


async def booked(rates: RateCard, courier: Courier, country: str = "GB") -> str:
    quote = await rates.quote(quote_request(1))
    booking = await courier.book(
        BookCourier(order_id=ORDER, quote_id=quote.quote_id, shipping_country=country)
    )
    return booking.booking_id


async def test_a_quote_costs_a_base_plus_a_cost_per_unit(rates: RateCard) -> None:
    quote = await rates.quote(quote_request(2, 1))

    assert quote.shipping_cost_cents == 500 + 3 * 100


async def test_quoting_twice_gives_the_same_quote(rates: RateCard) -> None:
    assert await rates.quote(quote_request(1)) == await rates.quote(quote_request(1))


async def test_a_labelled_shipment_has_a_tracking_number(
    rates: RateCard,
    courier: Courier,
    labels: LabelPrinter,
    shipments: repository.SqlShipmentStore,
) -> None:
    booking_id = await booked(rates, courier)

    label = await labels.print(PrintLabel(order_id=ORDER, booking_id=booking_id))

    assert label.tracking_number.startswith("TRK")
    shipment = await shipments.get(ORDER)
    assert shipment is not None
    assert (shipment.status, shipment.tracking_number) == (
        ShipmentStatus.LABELLED,
        label.tracking_number,
    )


async def test_an_unreachable_destination_is_refused_at_booking(
    rates: RateCard, courier: Courier
) -> None:
    with pytest.raises(DestinationUnreachable, match=UNREACHABLE_COUNTRY):
        await booked(rates, courier, country=UNREACHABLE_COUNTRY)


async def test_booking_twice_books_one_courier(rates: RateCard, courier: Courier) -> None:
    quote = await rates.quote(quote_request(1))
    command = BookCourier(order_id=ORDER, quote_id=quote.quote_id, shipping_country="GB")

    assert await courier.book(command) == await courier.book(command)


async def test_printing_twice_gives_one_tracking_number(
    rates: RateCard, courier: Courier, labels: LabelPrinter
) -> None:
    command = PrintLabel(order_id=ORDER, booking_id=await booked(rates, courier))

    assert await labels.print(command) == await labels.print(command)


async def test_booking_without_a_quote_is_refused(courier: Courier) -> None:
    with pytest.raises(ShipmentNotReady):
        await courier.book(BookCourier(order_id=ORDER, quote_id="quo_x", shipping_country="GB"))


async def test_a_label_before_booking_is_refused(rates: RateCard, labels: LabelPrinter) -> None:
    await rates.quote(quote_request(1))

    with pytest.raises(ShipmentNotReady):
        await labels.print(PrintLabel(order_id=ORDER, booking_id="bkg_x"))


async def test_a_cancelled_courier_gets_no_label(
    rates: RateCard, courier: Courier, labels: LabelPrinter
) -> None:
    booking_id = await booked(rates, courier)

    await courier.cancel(CancelCourier(order_id=ORDER))
    await courier.cancel(CancelCourier(order_id=ORDER))

    with pytest.raises(ShipmentCancelled):
        await labels.print(PrintLabel(order_id=ORDER, booking_id=booking_id))


async def test_voiding_a_label_never_printed_makes_a_late_label_fail(
    rates: RateCard,
    courier: Courier,
    labels: LabelPrinter,
    shipments: repository.SqlShipmentStore,
) -> None:
    booking_id = await booked(rates, courier)

    await labels.void(VoidLabel(order_id=ORDER))

    with pytest.raises(ShipmentCancelled):
        await labels.print(PrintLabel(order_id=ORDER, booking_id=booking_id))
    shipment = await shipments.get(ORDER)
    assert shipment is not None
    assert shipment.tracking_number is None


async def test_cancelling_before_any_quote_makes_late_steps_fail(
    rates: RateCard, courier: Courier
) -> None:
    await courier.cancel(CancelCourier(order_id=ORDER))

    with pytest.raises(ShipmentCancelled):
        await rates.quote(quote_request(1))
    with pytest.raises(ShipmentCancelled):
        await courier.book(BookCourier(order_id=ORDER, quote_id="quo_x", shipping_country="GB"))
