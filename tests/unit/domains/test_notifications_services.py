"""The mailer against its real SQL log: each customer is told each outcome once."""

from __future__ import annotations

import pytest

from domains.notifications import repository
from domains.notifications.events import NotifyCustomer
from domains.notifications.services import Mailer, NothingToTell
from domains.orders.events import OrderCancelled, OrderCompleted, OrderRejected
from orchestrators.state.database import Database, create_tables

ORDER = "ord-1"
EMAIL = "ada@example.com"


@pytest.fixture
async def log(database: Database) -> repository.SqlNotificationLog:
    await create_tables(database, repository.metadata)
    return repository.SqlNotificationLog(database)


@pytest.fixture
def mailer(log: repository.SqlNotificationLog) -> Mailer:
    return Mailer(log, shop_name="The Test Shop")


async def test_a_completed_order_is_told_its_tracking_number(
    mailer: Mailer, log: repository.SqlNotificationLog
) -> None:
    sent = await mailer.notify(
        NotifyCustomer(
            order_id=ORDER,
            trigger=OrderCompleted.message_type,
            email=EMAIL,
            tracking_number="TRK123",
        )
    )

    assert sent.subject == f"Your order {ORDER} is on its way (tracking TRK123)"
    [told] = await log.of_order(ORDER)
    assert told.email == EMAIL
    assert "TRK123" in told.body
    assert "The Test Shop" in told.body


async def test_a_cancelled_order_is_told_why(mailer: Mailer) -> None:
    sent = await mailer.notify(
        NotifyCustomer(
            order_id=ORDER,
            trigger=OrderCancelled.message_type,
            email=EMAIL,
            reason="card declined",
        )
    )

    assert sent.subject == f"Your order {ORDER} was cancelled: card declined"


async def test_a_rejected_order_is_told_it_was_not_accepted(mailer: Mailer) -> None:
    sent = await mailer.notify(
        NotifyCustomer(
            order_id=ORDER,
            trigger=OrderRejected.message_type,
            email=EMAIL,
            reason="placed already with other lines",
        )
    )

    assert sent.subject.startswith(f"Your order {ORDER} could not be accepted")


async def test_a_repeat_tells_the_customer_once(
    mailer: Mailer, log: repository.SqlNotificationLog
) -> None:
    command = NotifyCustomer(
        order_id=ORDER, trigger=OrderCancelled.message_type, email=EMAIL, reason="out of stock"
    )

    first = await mailer.notify(command)
    again = await mailer.notify(command)

    assert again == first
    assert len(await log.of_order(ORDER)) == 1


async def test_each_outcome_of_an_order_is_told_separately(
    mailer: Mailer, log: repository.SqlNotificationLog
) -> None:
    await mailer.notify(
        NotifyCustomer(order_id=ORDER, trigger=OrderRejected.message_type, reason="conflict")
    )
    await mailer.notify(
        NotifyCustomer(order_id=ORDER, trigger=OrderCompleted.message_type, tracking_number="T1")
    )

    assert len(await log.of_order(ORDER)) == 2


async def test_an_event_with_nothing_to_tell_is_refused(
    mailer: Mailer, log: repository.SqlNotificationLog
) -> None:
    with pytest.raises(NothingToTell):
        await mailer.notify(NotifyCustomer(order_id=ORDER, trigger="orders.order.placed"))

    assert await log.of_order(ORDER) == []
