"""``docs/reference/events.md``: every contract on the wire, from the domain registry.

Events with their producers and consumers, commands and replies per service queue, choreography's
internal events, and the nested types they carry; each with its fields from the JSON schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from interplay.docs.reference.markdown import GENERATED, anchor, own_doc, table
from interplay.docs.reference.services import refusals, reply_of, service_class
from messaging.contracts import Command, Contract, Event
from messaging.rpc import REPLY_SUFFIX
from messaging.topology import EVENTS_EXCHANGE, inbox_queue, internal_exchange, rpc_queue
from orchestrators import Domain
from orchestrators.choreography import StepEvent, step_bindings, step_queue

OUTSIDE = "storefront"  # who publishes the events no domain publishes (`interplay publish`)


def events_doc(domains: Mapping[str, Domain]) -> str:
    lines = [
        "# Events and commands",
        "",
        GENERATED,
        "",
        "What travels on the wire. Every message carries the envelope of",
        "[architecture.md](../architecture.md#the-envelope); bodies are JSON, readers ignore",
        "unknown fields, a breaking change gets a new `schema_version`.",
        "",
        *_event_section(domains),
        *_command_section(domains),
        *_internal_section(domains),
        *_nested_section(domains),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _event_section(domains: Mapping[str, Domain]) -> list[str]:
    events = _events(domains)
    lines = [
        "## Events between domains",
        "",
        f"On the topic exchange `{EVENTS_EXCHANGE}`; the routing key is also the AMQP `type`.",
        f"Each domain reads them through its inbox `{inbox_queue('<domain>')}`.",
        "",
    ]
    rows = [
        (f"[`{key}`](#{anchor(key)})", event.__name__, str(event.schema_version),
         _producers(domains, event), _consumers(domains, event))
        for key, event in events.items()
    ]  # fmt: skip
    lines += table(("routing key", "contract", "version", "published by", "consumed by"), rows)
    for key, event in events.items():
        lines += [
            "",
            f"### {key}",
            "",
            f"`{event.__name__}`: {own_doc(event)}",
            f"Published by {_producers(domains, event)}; consumed by {_consumers(domains, event)}.",
            "",
            *_fields(event),
        ]
    return [*lines, ""]


def _command_section(domains: Mapping[str, Domain]) -> list[str]:
    lines = [
        "## Commands and replies, per service queue",
        "",
        "A command goes to its service's queue through the default exchange, with `reply_to`",
        "(direct reply-to, or on a cluster the caller's own `<domain>.replies.<32 hex>` queue:",
        "`INTERPLAY_RPC_REPLY_TO`) and the flow's `correlation_id`. The reply's AMQP `type` is the",
        f"command's plus `{REPLY_SUFFIX}`, its `causation_id` header the request's `message_id`,",
        'its body `{"ok": true, "result": {...}}` with the reply contract below as `result`, or',
        '`{"ok": false, "error": {"type": ..., "reason": ..., "business": ...}}`; a reply',
        "contract's own `message_type` does not travel. `business` is true for the typed",
        "failures below and false for any other exception (its class name is the `type`).",
        "Under choreography the step workers call the same service methods in-process.",
    ]
    for domain in domains.values():
        failures = ", ".join(f"`{name}`" for name in refusals(domain)) or "none"
        lines += ["", f"### {domain.name}", "", f"Typed business failures: {failures}."]
        for service in domain.services:
            lines += _service_queue(domain, service)
    return [*lines, ""]


def _service_queue(domain: Domain, service: str) -> list[str]:
    implementation = service_class(domain, service)
    lines = [
        "",
        f"#### {rpc_queue(domain.name, service)}",
        "",
        f"Service `{service}`: `{implementation.__module__}.{implementation.__name__}`.",
        "",
    ]
    rows = []
    for command in domain.commands(service):
        reply = reply_of(implementation, command)
        rows.append(
            (
                f"`{command.message_type}`",
                command.__name__,
                _uses(domain, command),
                reply.__name__ if reply else "nothing (`result` is `{}`)",
            )
        )
    lines += table(("command (`type`)", "contract", "sent as", "reply `result`"), rows)
    for command in domain.commands(service):
        lines += ["", f"`{command.__name__}` (`{command.message_type}`)", "", *_fields(command)]
        reply = reply_of(implementation, command)
        if reply is not None:
            lines += ["", f"`{reply.__name__}`", "", *_fields(reply)]
    return lines


def _internal_section(domains: Mapping[str, Domain]) -> list[str]:
    lines = [
        "## Internal events (choreography)",
        "",
        "A choreographed domain relays each trigger from its inbox as `<workflow>.started` on",
        f"its own topic exchange `{internal_exchange('<domain>')}`. Each step has a queue",
        "`<domain>.<workflow>.<step>` bound to the event",
        "of the step before (to do its step) and to `failed`/`compensated` of the step after",
        "(to undo it); the last step publishes the outcome event instead of a `done` event.",
        "The routing key is the AMQP `type`; every body is a `StepEvent`, whose `context` is",
        "the flow's: the trigger's fields, each step's reply, `reason` and `failed_step`.",
        "",
        *_fields(StepEvent),
        "",
        "| queue | bound to |",
        "| --- | --- |",
    ]
    for domain in domains.values():
        for workflow in domain.workflows:
            for index, step in enumerate(workflow.steps):
                keys = ", ".join(f"`{key}`" for key in step_bindings(workflow, index))
                lines.append(f"| `{step_queue(domain.name, workflow, step)}` | {keys} |")
    return [*lines, ""]


def _nested_section(domains: Mapping[str, Domain]) -> list[str]:
    nested: dict[str, dict[str, Any]] = {}
    for domain in domains.values():
        for contract in domain.contracts():
            nested.update(contract.model_json_schema().get("$defs", {}))
    lines = ["## Nested types"]
    for name, schema in sorted(nested.items()):
        lines += ["", f"### {name}", "", *_schema_fields(schema)]
    return lines


def _events(domains: Mapping[str, Domain]) -> dict[str, type[Event]]:
    found: dict[str, type[Event]] = {}
    for domain in domains.values():
        for event in (*domain.publishes, *domain.consumes):
            found[event.message_type] = event
    return dict(sorted(found.items()))


def _producers(domains: Mapping[str, Domain], event: type[Event]) -> str:
    names = [domain.name for domain in domains.values() if event in domain.publishes]
    return ", ".join(names) or OUTSIDE


def _consumers(domains: Mapping[str, Domain], event: type[Event]) -> str:
    names = [
        f"{domain.name} ({', '.join(w.name for w in domain.workflows if event in w.triggers)})"
        for domain in domains.values()
        if event in domain.consumes
    ]
    return ", ".join(names) or "nobody (a leaf: it ends a flow)"


def _uses(domain: Domain, command: type[Command]) -> str:
    uses = []
    for workflow in domain.workflows:
        for step in workflow.steps:
            if step.command is command:
                uses.append(f"{workflow.name}: step `{step.name}`")
            if step.compensation is command:
                uses.append(f"{workflow.name}: compensation of `{step.name}`")
    return "; ".join(uses)


def _fields(contract: type[Contract]) -> list[str]:
    return _schema_fields(contract.model_json_schema())


def _schema_fields(schema: Mapping[str, Any]) -> list[str]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    if not properties:
        return ["No fields."]
    required = set(schema.get("required", ()))
    rows = [
        (f"`{name}`", _json_type(spec), "yes" if name in required else "no", _constraints(spec))
        for name, spec in properties.items()
    ]
    return table(("field", "type", "required", "constraints"), rows)


def _json_type(spec: Mapping[str, Any]) -> str:
    if "$ref" in spec:
        name = str(spec["$ref"]).rsplit("/", 1)[-1]
        return f"[{name}](#{anchor(name)})"
    if "anyOf" in spec:
        return " or ".join(_json_type(option) for option in spec["anyOf"])
    if spec.get("type") == "array":
        return f"array of {_json_type(spec.get('items', {}))}"
    return str(spec.get("type", "any"))


_CONSTRAINTS = (
    ("minLength", "length ≥ {}"),
    ("maxLength", "length ≤ {}"),
    ("pattern", "matches `{}`"),
    ("exclusiveMinimum", "> {}"),
    ("minimum", "≥ {}"),
    ("maximum", "≤ {}"),
    ("minItems", "≥ {} items"),
    ("maxItems", "≤ {} items"),
)


def _constraints(spec: Mapping[str, Any]) -> str:
    found = [template.format(spec[key]) for key, template in _CONSTRAINTS if key in spec]
    if "default" in spec:
        found.append(f"default `{json.dumps(spec['default'])}`")
    return ", ".join(found)
