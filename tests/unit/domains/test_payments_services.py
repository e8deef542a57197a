"""The card gateway against its real SQL ledger: money moves once, or not at all."""

from __future__ import annotations

import pytest

from domains.payments import repository
from domains.payments.events import AuthorisePayment, CapturePayment, RefundPayment, VoidPayment
from domains.payments.services import (
    DECLINED_CARD,
    HANGING_CARD,
    CardDeclined,
    Payment,
    PaymentGateway,
    PaymentNotCapturable,
    PaymentStatus,
)
from orchestrators.state.database import Database, create_tables

ORDER = "ord-1"


@pytest.fixture
async def ledger(database: Database) -> repository.SqlPaymentLedger:
    await create_tables(database, repository.metadata)
    return repository.SqlPaymentLedger(database)


@pytest.fixture
def gateway(ledger: repository.SqlPaymentLedger) -> PaymentGateway:
    return PaymentGateway(ledger, hang_seconds=0.01)


def authorisation(card_token: str = "tok_visa", amount_cents: int = 4_250) -> AuthorisePayment:
    return AuthorisePayment(order_id=ORDER, amount_cents=amount_cents, card_token=card_token)


async def test_an_authorised_payment_is_captured_for_its_amount(
    gateway: PaymentGateway, ledger: repository.SqlPaymentLedger
) -> None:
    await gateway.authorise(authorisation(amount_cents=4_250))

    captured = await gateway.capture(CapturePayment(order_id=ORDER))

    assert captured.captured_cents == 4_250
    assert await ledger.totals() == {"captured": 4_250}


async def test_a_declined_card_is_refused(
    gateway: PaymentGateway, ledger: repository.SqlPaymentLedger
) -> None:
    with pytest.raises(CardDeclined):
        await gateway.authorise(authorisation(DECLINED_CARD))

    assert await ledger.get(ORDER) is None


async def test_authorising_twice_returns_the_same_payment(gateway: PaymentGateway) -> None:
    first = await gateway.authorise(authorisation())
    again = await gateway.authorise(authorisation())

    assert again.payment_id == first.payment_id


async def test_capturing_twice_moves_money_once(
    gateway: PaymentGateway, ledger: repository.SqlPaymentLedger
) -> None:
    await gateway.authorise(authorisation(amount_cents=999))

    first = await gateway.capture(CapturePayment(order_id=ORDER))
    again = await gateway.capture(CapturePayment(order_id=ORDER))

    assert first == again
    assert await ledger.totals() == {"captured": 999}


async def test_capturing_without_an_authorisation_is_refused(gateway: PaymentGateway) -> None:
    with pytest.raises(PaymentNotCapturable):
        await gateway.capture(CapturePayment(order_id=ORDER))


async def test_a_card_that_hangs_takes_no_money(
    gateway: PaymentGateway, ledger: repository.SqlPaymentLedger
) -> None:
    await gateway.authorise(authorisation(HANGING_CARD))

    with pytest.raises(PaymentNotCapturable):
        await gateway.capture(CapturePayment(order_id=ORDER))

    assert await ledger.totals() == {}


async def test_a_voided_payment_cannot_be_captured(
    gateway: PaymentGateway, ledger: repository.SqlPaymentLedger
) -> None:
    await gateway.authorise(authorisation())
    await gateway.void(VoidPayment(order_id=ORDER))

    with pytest.raises(PaymentNotCapturable):
        await gateway.capture(CapturePayment(order_id=ORDER))

    assert await ledger.totals() == {"voided": 0}


async def test_void_before_authorise_makes_a_late_authorisation_fail(
    gateway: PaymentGateway, ledger: repository.SqlPaymentLedger
) -> None:
    await gateway.void(VoidPayment(order_id=ORDER))

    with pytest.raises(PaymentNotCapturable):
        await gateway.authorise(authorisation())

    payment = await ledger.get(ORDER)
    assert payment is not None
    assert payment.status is PaymentStatus.VOIDED


async def test_a_void_racing_an_authorisation_still_voids_it(
    ledger: repository.SqlPaymentLedger,
) -> None:
    class AuthorisationLandsAfterTheLook:
        """The ledger, on which the authorisation lands just after the void looked for it."""

        def __init__(self) -> None:
            self.landed = False

        async def get(self, order_id: str) -> Payment | None:
            seen = await ledger.get(order_id)
            if not self.landed:
                self.landed = True
                await PaymentGateway(ledger).authorise(authorisation())
            return seen

        def __getattr__(self, name: str) -> object:
            return getattr(ledger, name)

    await PaymentGateway(AuthorisationLandsAfterTheLook()).void(VoidPayment(order_id=ORDER))

    payment = await ledger.get(ORDER)
    assert payment is not None
    assert payment.status is PaymentStatus.VOIDED


async def test_a_refund_gives_back_what_was_captured_once(
    gateway: PaymentGateway, ledger: repository.SqlPaymentLedger
) -> None:
    await gateway.authorise(authorisation(amount_cents=1_500))
    await gateway.capture(CapturePayment(order_id=ORDER))

    first = await gateway.refund(RefundPayment(order_id=ORDER))
    again = await gateway.refund(RefundPayment(order_id=ORDER))

    assert first.refunded_cents == again.refunded_cents == 1_500
    assert await ledger.totals() == {"captured": 1_500, "refunded": 1_500}


async def test_refunding_an_uncaptured_payment_gives_nothing_and_stops_a_late_capture(
    gateway: PaymentGateway, ledger: repository.SqlPaymentLedger
) -> None:
    await gateway.authorise(authorisation())

    refunded = await gateway.refund(RefundPayment(order_id=ORDER))

    assert refunded.refunded_cents == 0
    with pytest.raises(PaymentNotCapturable):
        await gateway.capture(CapturePayment(order_id=ORDER))
    assert "captured" not in await ledger.totals()
