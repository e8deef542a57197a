from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client import CollectorRegistry

from messaging.broker import Broker, BrokerSettings
from messaging.metrics import Metrics
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with fresh_vhost() as url:
        yield url


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[Broker]:
    broker = await Broker.connect(BrokerSettings(url=amqp_url, client_name="interplay tests"))
    yield broker
    await broker.close()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())
