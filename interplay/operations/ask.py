"""Asking every domain at once over the broker, as the operator, and who did not answer.

Each domain answers on its operations queue (``orchestrators.operations``); a request goes
through the domain's own exchange, ``interplay.operations.<domain>``, which only the operator
may publish to, and its reply comes back on direct reply-to. Every domain is asked at once, each
on a channel of its own (a refused or failed call closes only its channel), with one timeout.

Example::

    answers = await ask_every_domain(settings, ShowFlow(correlation_id=flow_id), FlowRuns,
                                     timeout=5)
    runs = [run for reply in answers.replies.values() for run in reply.runs]
    answers.unanswered  # {"payments": "no reply within 5s"}
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from aio_pika.abc import AbstractExchange, AbstractRobustChannel
from aio_pika.exceptions import AMQPError
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from domains.registry import DOMAINS
from interplay.settings import Settings
from messaging.broker import Broker
from messaging.contracts import Command, Reply
from messaging.envelope import Envelope
from messaging.errors import (
    ExchangeMissing,
    PublishFailed,
    RemoteFailure,
    RpcError,
    RpcTimeout,
    Unroutable,
)
from messaging.metrics import Hop, Labels, Metrics
from messaging.publisher import Publisher
from messaging.rpc import RpcClient
from messaging.topology import existing_exchange, operations_exchange, operations_queue

SOURCE = "interplay-cli"
R = TypeVar("R", bound=Reply)


@dataclass(frozen=True, slots=True)
class Answers(Generic[R]):
    """Each domain's reply, and why each domain that gave none did not."""

    replies: dict[str, R]
    unanswered: dict[str, str]


class OperationsClient(RpcClient):
    """An ``RpcClient`` whose requests go through one domain's operations exchange."""

    def __init__(
        self,
        channel: AbstractRobustChannel,
        exchange: AbstractExchange,
        metrics: Metrics,
        labels: Labels,
    ) -> None:
        super().__init__(channel, metrics, labels)
        self.requests = Publisher(channel, exchange, metrics, labels, Hop.RPC_REQUEST)


async def ask_every_domain(
    settings: Settings,
    request: Command,
    reply: type[R],
    *,
    timeout: float,
    domains: Iterable[str] = DOMAINS,
) -> Answers[R]:
    """Ask ``request`` of every domain at once; each has ``timeout`` seconds to answer."""
    broker = await Broker.connect(settings.broker("interplay operations"))
    try:
        cause = Envelope.new_flow(request.message_type, SOURCE)
        names = list(domains)
        asked = await asyncio.gather(
            *(_ask(broker, settings, name, request, reply, cause, timeout) for name in names)
        )
    finally:
        await broker.close()
    replies = {name: answer for name, answer in zip(names, asked, strict=True)}
    return Answers(
        replies={name: answer for name, answer in replies.items() if not isinstance(answer, str)},
        unanswered={name: answer for name, answer in replies.items() if isinstance(answer, str)},
    )


async def _ask(
    broker: Broker,
    settings: Settings,
    domain: str,
    request: Command,
    reply: type[R],
    cause: Envelope,
    timeout: float,
) -> R | str:
    """The domain's reply, or why there is none."""
    try:
        channel = await broker.channel()
        exchange = await existing_exchange(channel, operations_exchange(domain))
        metrics = Metrics(CollectorRegistry())
        client = OperationsClient(channel, exchange, metrics, Labels(SOURCE, "operations", "-"))
        await client.start()
        result = await client.call(operations_queue(domain), request, cause, timeout=timeout)
        return reply.model_validate(result)
    except RpcTimeout:
        return f"no reply within {timeout:g}s: no process of {domain} serves, or none in time"
    except (Unroutable, ExchangeMissing):
        return f"no operations queue: {domain} has not run on this broker (vhost) yet"
    except RemoteFailure as failure:
        return f"answered with an error: {failure}"
    except ValidationError as error:
        return f"answered something that is not a {reply.__name__}: {error.error_count()} errors"
    except (RpcError, PublishFailed) as error:
        return f"not asked: {error}"
    except AMQPError as error:  # the broker refused this user the exchange
        return f"not asked: the broker refused ({error})"
    except (TimeoutError, ConnectionError) as error:  # the connection went while asking
        return f"not asked: the connection to the broker failed ({error})"
