"""The parts of the AsyncAPI document that are the same for every message: servers, the envelope
(as message traits) and the RPC reply's shape. They mirror ``messaging.envelope`` and
``messaging.rpc``; the envelope's names follow the CloudEvents AMQP binding where it fits."""

from __future__ import annotations

from typing import Any

from messaging.envelope import CONTENT_TYPE, SPEC_VERSION

DESCRIPTION = (
    "The wire contract of interplay: domains publish facts to the topic exchange "
    "interplay.events and react to each other's through their inbox queues; inside a domain "
    "an orchestrator sends commands to its services' RPC queues and waits for their replies. "
    "Every message is persistent JSON with the envelope below (AMQP properties and headers); "
    "correlation_id is the business flow, the same on every message of one order. Readers "
    "ignore fields they do not know; a breaking change gets a new schema_version. A producer "
    "in another language may send an event with the envelope as AMQP properties (message_id, "
    "type) or as the CloudEvents AMQP binding's headers alone (cloudEvents:id, cloudEvents:type, "
    "cloudEvents:source, cloudEvents:specversion; the prefix cloudEvents_ is read too); where "
    "both are set they must agree. An event without correlation_id starts a business flow "
    "whose correlation id is its own id."
)

SERVERS = {
    "rabbitmq": {
        "host": "{host}:5672",
        "protocol": "amqp",
        "protocolVersion": "0.9.1",
        "pathname": "/",
        "description": "RabbitMQ; each domain logs in as its own user, which may publish only "
        "its own routing keys.",
        "variables": {"host": {"default": "localhost"}},
    },
    "rabbitmqTls": {
        "host": "{host}:5671",
        "protocol": "amqps",
        "protocolVersion": "0.9.1",
        "pathname": "/",
        "description": "The same broker over TLS (INTERPLAY_AMQP_URL=amqps://...).",
        "variables": {"host": {"default": "localhost"}},
    },
}

_AMQP_PROPERTIES: dict[str, dict[str, Any]] = {
    "message_id": {"type": "string", "format": "uuid", "description": "AMQP property: this "
                   "message's id (a repeat after a crash keeps it)."},
    "correlation_id": {"type": "string", "description": "AMQP property: the business flow's "
                       "id, the id of the message that started it."},
    "type": {"type": "string", "description": "AMQP property: the routing key of an event, "
             "the name of a command, or the command's name + '.reply'."},
    "timestamp": {"type": "integer", "description": "AMQP property: seconds since the epoch."},
    "app_id": {"type": "string", "description": "AMQP property: the producing domain."},
    "content_type": {"type": "string", "const": CONTENT_TYPE, "description": "AMQP property."},
    "delivery_mode": {"type": "integer", "const": 2, "description": "AMQP property: persistent."},
}  # fmt: skip

_HEADERS: dict[str, dict[str, Any]] = {
    "cloudEvents:specversion": {"type": "string", "const": SPEC_VERSION},
    "cloudEvents:id": {"type": "string", "description": "The same as message_id."},
    "cloudEvents:source": {"type": "string", "description": "The same as app_id."},
    "cloudEvents:type": {"type": "string", "description": "The same as type."},
    "cloudEvents:time": {"type": "string", "format": "date-time",
                         "description": "When it was produced, to the microsecond."},
    "causation_id": {"type": "string", "description": "The message_id of the message that "
                     "caused this one; absent on the first message of a flow."},
    "schema_version": {"type": "integer", "minimum": 1, "maximum": 999,
                       "description": "The version of the payload's contract."},
    "traceparent": {"type": "string", "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$",
                    "description": "W3C trace context: the span that published this message, "
                    "in the trace of its cause (an incoming trace is kept)."},
    "tracestate": {"type": "string", "description": "W3C trace context: vendor trace state, "
                   "passed on as the cause carried it; absent when there is none."},
    "cloudEvents:flowstarted": {"type": "string", "format": "date-time",
                                "description": "CloudEvents extension: when the business flow "
                                "began, the same on every message of the flow; absent on its "
                                "first message (its own time)."},
}  # fmt: skip

_REQUIRED = ["message_id", "correlation_id", "type", "timestamp", "app_id", "content_type"]
_REQUIRED += ["cloudEvents:specversion", "cloudEvents:id", "cloudEvents:source"]
_REQUIRED += ["cloudEvents:type", "cloudEvents:time", "schema_version", "traceparent"]
_REQUIRED += ["cloudEvents:flowstarted"]

# What a reader accepts from a producer that is not interplay: one of two ways to say the id
# and the type (messaging.cloudevents).
_ACCEPTED = [
    {"title": "AMQP properties", "required": ["message_id", "type"]},
    {"title": "CloudEvents headers alone", "required": ["cloudEvents:id", "cloudEvents:type"]},
]
_FROM_ANOTHER_LANGUAGE = {
    "name": "placedByAnotherLanguage",
    "summary": "An order placed by a storefront that is not interplay: CloudEvents headers only, "
    "no correlation_id, so the order's flow is named by its cloudEvents:id.",
    "headers": {
        "content_type": CONTENT_TYPE,
        "delivery_mode": 2,
        "cloudEvents:specversion": SPEC_VERSION,
        "cloudEvents:id": "5b0c7e2a-9f0d-4c55-8a51-3f1e0d6b2a77",
        "cloudEvents:type": "orders.order.placed",
        "cloudEvents:source": "storefront-go",
        "cloudEvents:time": "2026-11-22T03:48:49.719510+00:00",
    },
}


def _trait(
    description: str,
    *,
    also_required: tuple[str, ...] = (),
    reply_to: bool = False,
    from_outside: bool = False,
) -> Any:
    properties = {**_AMQP_PROPERTIES, **_HEADERS}
    if reply_to:
        properties["reply_to"] = {
            "type": "string",
            "description": "AMQP property: where the reply goes (amq.rabbitmq.reply-to, "
            "or the caller's own <domain>.replies.<32 hex digits>).",
        }
    headers: dict[str, Any] = {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": [*_REQUIRED, *also_required],
    }
    trait: dict[str, Any] = {
        "headers": headers,
        "correlationId": {
            "description": "The business flow, the same on every message of one order.",
            "location": "$message.header#/correlation_id",
        },
    }
    if from_outside:  # interplay sends all of them; a reader needs only these
        headers["required"] = ["content_type"]
        headers["anyOf"] = _ACCEPTED
        trait["examples"] = [_FROM_ANOTHER_LANGUAGE]
    return trait


TRAITS = {
    "event": _trait(
        "The envelope of an event on interplay.events. interplay's own events carry every "
        "property and header listed; a reader requires only the id and the type, as AMQP "
        "properties or as CloudEvents headers (docs/howto/publish-from-another-language.md).",
        from_outside=True,
    ),
    "command": _trait(
        "The envelope of a command to a service's RPC queue.",
        also_required=("causation_id", "reply_to"),
        reply_to=True,
    ),
    "reply": _trait(
        "The envelope of a reply; causation_id is the message_id of the command it answers.",
        also_required=("causation_id",),
    ),
}


def rpc_reply(result: dict[str, Any]) -> dict[str, Any]:
    """The body of every reply: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error":
    ...}`` with a typed failure (``business`` when the service refused for a business reason)."""
    failure = {"$ref": "#/components/schemas/RpcFailure"}
    return {
        "oneOf": [
            {
                "type": "object",
                "title": "Success",
                "properties": {"ok": {"const": True}, "result": result, "error": {"type": "null"}},
                "required": ["ok", "result"],
            },
            {
                "type": "object",
                "title": "Failure",
                "properties": {
                    "ok": {"const": False},
                    "error": failure,
                    "result": {"type": "null"},
                },
                "required": ["ok", "error"],
            },
        ]
    }
