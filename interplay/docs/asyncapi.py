"""The AsyncAPI 3.0 document of the wire contract, generated from the registered domains.

Channels: each event's routing key on the topic exchange ``interplay.events``, each domain's
inbox queue, each service's RPC queue and the replies it sends to the caller's ``reply_to``, and
each domain's operations queue, where it answers an operator.
Operations: who sends and who receives each of them; an RPC operation names its reply. Payloads
are the contracts' JSON Schemas (pydantic's, with shared definitions under
``components/schemas``); every message carries the envelope (AMQP properties and headers, see
``messaging.envelope``) as a message trait.

Example::

    document = asyncapi_document(DOMAINS.values())
    Path("docs/asyncapi.yaml").write_text(yaml_text.dumps(document))
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Iterable
from importlib import metadata
from typing import Any

import interplay.docs.asyncapi_envelope as envelope
from messaging.contracts import Command, Contract, Event, Reply
from messaging.envelope import CONTENT_TYPE
from messaging.rpc import REPLY_SUFFIX, RpcFailure
from messaging.topology import (
    EVENTS_EXCHANGE,
    inbox_queue,
    operations_exchange,
    operations_queue,
    rpc_queue,
)
from orchestrators import Domain
from orchestrators.operations.contracts import ANSWERS

AMQP_BINDING_VERSION = "0.3.0"
Document = dict[str, Any]


def asyncapi_document(domains: Iterable[Domain]) -> Document:
    """The document; ``domains`` in registry order, which the output keeps."""
    builder = _Builder()
    domains = list(domains)
    published = {event for domain in domains for event in domain.publishes}
    for domain in domains:
        for event in domain.publishes:
            builder.event(event, sender=domain.name)
    for domain in domains:
        for event in domain.consumes:
            if event not in published:  # from the outside, as orders.order.placed
                builder.event(event, sender="storefront")
        builder.inbox(domain)
        for service in domain.services:
            builder.rpc(domain, service)
        builder.operations_queue(domain)
    return builder.document()


class _Builder:
    def __init__(self) -> None:
        self.channels: Document = {}
        self.operations: Document = {}
        self.messages: Document = {}
        self.schemas: Document = {"RpcFailure": _schema(RpcFailure, self)}

    def document(self) -> Document:
        return {
            "asyncapi": "3.0.0",
            "info": {
                "title": "interplay",
                "version": metadata.version("interplay"),
                "description": envelope.DESCRIPTION,
                "license": {"name": "MIT"},
            },
            "defaultContentType": CONTENT_TYPE,
            "servers": envelope.SERVERS,
            "channels": self.channels,
            "operations": self.operations,
            "components": {
                "messages": self.messages,
                "schemas": dict(sorted(self.schemas.items())),
                "messageTraits": envelope.TRAITS,
            },
        }

    def event(self, event: type[Event], *, sender: str) -> None:
        channel = identifier(event.message_type)
        self.channels.setdefault(
            channel,
            {
                "address": event.message_type,
                "title": event.__name__,
                "messages": {event.__name__: self.message(event, trait="event")},
                "bindings": {"amqp": _routing_key_binding()},
            },
        )
        self.operations[identifier(f"{sender}.sends.{event.message_type}")] = {
            "action": "send",
            "channel": _ref("channels", channel),
            "summary": f"{sender} publishes {event.message_type}.",
            "messages": [_ref("channels", channel, "messages", event.__name__)],
            "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "timestamp": True}},
        }

    def inbox(self, domain: Domain) -> None:
        if not domain.consumes:
            return
        queue = inbox_queue(domain.name)
        channel = identifier(queue)
        keys = ", ".join(event.message_type for event in domain.consumes)
        self.channels[channel] = {
            "address": queue,
            "title": f"{domain.name} inbox",
            "description": f"Bound to {EVENTS_EXCHANGE} with the routing keys {keys}.",
            "messages": {e.__name__: self.message(e, trait="event") for e in domain.consumes},
            "bindings": {"amqp": _queue_binding(queue)},
        }
        self.operations[identifier(f"{domain.name}.receives.inbox")] = {
            "action": "receive",
            "channel": _ref("channels", channel),
            "summary": f"{domain.name} reacts to {keys}.",
            "bindings": {"amqp": {"ack": True}},
        }

    def rpc(self, domain: Domain, service: str) -> None:
        queue = rpc_queue(domain.name, service)
        channel, replies = identifier(queue), identifier(f"{queue}.replies")
        service_class = _service_class(domain, service)
        commands = domain.commands(service)
        self.channels[channel] = {
            "address": queue,
            "title": f"{domain.name} {service} commands",
            "messages": {c.__name__: self.message(c, trait="command") for c in commands},
            "bindings": {"amqp": _queue_binding(queue)},
        }
        self.channels[replies] = {
            "address": None,
            "title": f"{domain.name} {service} replies",
            "description": "Replies go to the caller's reply_to through the default exchange: "
            "RabbitMQ's direct reply-to, amq.rabbitmq.reply-to, or on a cluster the caller's "
            "own queue, <domain>.replies.<32 hex digits>; causation_id names the request.",
            "messages": {
                f"{c.__name__}Reply": self.reply(c, _reply_of(service_class, c)) for c in commands
            },
        }
        for command in commands:
            summary = f"The {domain.name} {service} carries out {command.message_type}."
            self.receives(f"{domain.name}.{service}", command, channel, replies, summary)

    def operations_queue(self, domain: Domain) -> None:
        """Where the domain answers an operator; only the operator may send there."""
        queue = operations_queue(domain.name)
        channel, replies = identifier(queue), identifier(f"{queue}.replies")
        self.channels[channel] = {
            "address": queue,
            "title": f"{domain.name} operations",
            "description": f"Bound by its name to the direct exchange "
            f"{operations_exchange(domain.name)}, which only the operator user may publish to; "
            "a request that came another way is refused (not_permitted).",
            "messages": {r.__name__: self.message(r, trait="command") for r in ANSWERS},
            "bindings": {"amqp": _queue_binding(queue)},
        }
        self.channels[replies] = {
            "address": None,
            "title": f"{domain.name} operations replies",
            "description": "Replies go to the operator's direct reply-to; causation_id names "
            "the request.",
            "messages": {f"{r.__name__}Reply": self.reply(r, a) for r, a in ANSWERS.items()},
        }
        for request in ANSWERS:
            summary = f"{domain.name} answers {request.message_type}."
            self.receives(f"{domain.name}.operations", request, channel, replies, summary)

    def receives(
        self, receiver: str, command: type[Command], channel: str, replies: str, summary: str
    ) -> None:
        """The operation of ``receiver`` carrying out ``command`` and replying."""
        self.operations[identifier(f"{receiver}.{command.message_type}")] = {
            "action": "receive",
            "channel": _ref("channels", channel),
            "summary": summary,
            "messages": [_ref("channels", channel, "messages", command.__name__)],
            "reply": {
                "address": {"location": "$message.header#/reply_to"},
                "channel": _ref("channels", replies),
                "messages": [_ref("channels", replies, "messages", f"{command.__name__}Reply")],
            },
            "bindings": {"amqp": {"ack": True}},
        }

    def message(self, contract: type[Contract], *, trait: str) -> Document:
        name = contract.__name__
        if name not in self.messages:
            self.schemas[name] = _schema(contract, self)
            self.messages[name] = {
                "name": contract.message_type,
                "title": name,
                "summary": _summary(contract),
                "contentType": CONTENT_TYPE,
                "payload": _ref("components", "schemas", name),
                "traits": [_ref("components", "messageTraits", trait)],
                "bindings": {"amqp": _message_binding(contract.message_type)},
            }
        return _ref("components", "messages", name)

    def reply(self, command: type[Command], result: type[Reply] | None) -> Document:
        name = f"{command.__name__}Reply"
        if result is not None and result.__name__ not in self.schemas:
            self.schemas[result.__name__] = _schema(result, self)
        success = (
            _ref("components", "schemas", result.__name__)
            if result is not None
            else {"type": "object", "maxProperties": 0, "description": "Nothing to report."}
        )
        self.messages[name] = {
            "name": command.message_type + REPLY_SUFFIX,
            "title": name,
            "summary": f"The answer to {command.message_type}: its result, or a typed failure.",
            "contentType": CONTENT_TYPE,
            "payload": envelope.rpc_reply(success),
            "traits": [_ref("components", "messageTraits", "reply")],
            "bindings": {"amqp": _message_binding(command.message_type + REPLY_SUFFIX)},
        }
        return _ref("components", "messages", name)


def identifier(text: str) -> str:
    """A channel or operation id (AsyncAPI allows ``[A-Za-z0-9_-]``): dots become ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def _ref(*path: str) -> Document:
    escaped = (part.replace("~", "~0").replace("/", "~1") for part in path)
    return {"$ref": "#/" + "/".join(escaped)}


def _schema(model: type[Contract] | type[RpcFailure], builder: _Builder) -> Document:
    """``model``'s JSON Schema; the models it uses go to ``components/schemas`` once."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        known = builder.schemas.setdefault(name, definition)
        if known != definition:
            raise ValueError(f"two different schemas are named {name}")
    return schema


def _summary(contract: type[Contract]) -> str:
    doc = inspect.getdoc(contract) or ""
    inherited = any(doc == inspect.getdoc(base) for base in (Event, Command, Reply))
    return doc.split("\n\n")[0].replace("\n", " ") if doc and not inherited else contract.__name__


def _service_class(domain: Domain, service: str) -> type:
    """The class of ``service``, read from the domain container's ``services`` provider."""
    return typing.cast(type, domain.container.services.kwargs[service].provides)  # type: ignore[attr-defined]


def _reply_of(service_class: type, command: type[Command]) -> type[Reply] | None:
    """What the service's handler of ``command`` returns (``None`` for an empty reply)."""
    for name, method in inspect.getmembers(service_class, inspect.iscoroutinefunction):
        hints = typing.get_type_hints(method)
        if not name.startswith("_") and command in hints.values():
            result = hints.get("return")
            return result if isinstance(result, type) and issubclass(result, Reply) else None
    raise LookupError(f"{service_class.__name__} has no handler of {command.__name__}")


def _routing_key_binding() -> Document:
    exchange = {"name": EVENTS_EXCHANGE, "type": "topic", "durable": True, "autoDelete": False}
    return {"is": "routingKey", "exchange": {**exchange, "vhost": "/"}, **_version()}


def _queue_binding(queue: str) -> Document:
    attributes = {"name": queue, "durable": True, "exclusive": False, "autoDelete": False}
    return {"is": "queue", "queue": {**attributes, "vhost": "/"}, **_version()}


def _message_binding(message_type: str) -> Document:
    return {"contentEncoding": "utf-8", "messageType": message_type, **_version()}


def _version() -> Document:
    return {"bindingVersion": AMQP_BINDING_VERSION}
