"""The reference docs in ``docs/reference/``, generated from the code so that they cannot go stale.

- ``events.md``: every contract on the wire, from the domain registry: events with their
  producers and consumers, commands and replies per service queue, choreography's internal events;
- ``metrics.md``: every metric family of ``messaging.metrics.Metrics``;
- ``configuration.md``: every field of ``interplay.settings.Settings`` and each domain's options.

``interplay docs`` writes them, ``interplay docs --check`` fails when a committed one differs, and
``tests/unit/test_reference_docs.py`` does the same in the test suite.
"""

from __future__ import annotations

import inspect
import json
import sys
import typing
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.metrics import MetricWrapperBase
from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from domains.registry import DOMAINS
from interplay.settings import Settings
from messaging.contracts import Command, Contract, Event
from messaging.errors import RejectReason
from messaging.metrics import MESSAGING_SYSTEM, Hop, Metrics, Outcome
from messaging.rpc import REPLY_SUFFIX, Refused
from messaging.topology import EVENTS_EXCHANGE, inbox_queue, internal_exchange, rpc_queue
from orchestrators import Domain, Pattern
from orchestrators.choreography import StepEvent, step_bindings, step_queue

GENERATED = "_Generated from the code by `interplay docs`; do not edit by hand._"
OUTSIDE = "storefront"  # who publishes the events no domain publishes (`interplay publish`)


def render_all() -> dict[str, str]:
    """Each reference file's name and its content."""
    return {
        "events.md": events_doc(DOMAINS),
        "metrics.md": metrics_doc(Metrics(CollectorRegistry())),
        "configuration.md": configuration_doc(DOMAINS),
    }


def write(directory: Path) -> list[Path]:
    """Write every reference file into ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        (directory / name).write_text(text)
        written.append(directory / name)
    return written


def stale(directory: Path) -> list[Path]:
    """The reference files in ``directory`` that differ from what the code generates."""
    return [
        directory / name
        for name, text in render_all().items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]


# --- events.md ---------------------------------------------------------------------------------


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
        (f"[`{key}`](#{_anchor(key)})", event.__name__, str(event.schema_version),
         _producers(domains, event), _consumers(domains, event))
        for key, event in events.items()
    ]  # fmt: skip
    lines += _table(("routing key", "contract", "version", "published by", "consumed by"), rows)
    for key, event in events.items():
        lines += [
            "",
            f"### {key}",
            "",
            f"`{event.__name__}`: {_doc(event)}",
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
        "(direct reply-to) and the flow's `correlation_id`. The reply's AMQP `type` is the",
        f"command's plus `{REPLY_SUFFIX}`, its `causation_id` header the request's `message_id`,",
        'its body `{"ok": true, "result": {...}}` with the reply contract below as `result`, or',
        '`{"ok": false, "error": {"type": ..., "reason": ..., "business": ...}}`; a reply',
        "contract's own `message_type` does not travel. `business` is true for the typed",
        "failures below and false for any other exception (its class name is the `type`).",
        "Under choreography the step workers call the same service methods in-process.",
    ]
    for domain in domains.values():
        failures = ", ".join(f"`{name}`" for name in _refusals(domain)) or "none"
        lines += ["", f"### {domain.name}", "", f"Typed business failures: {failures}."]
        for service in domain.services:
            lines += _service_queue(domain, service)
    return [*lines, ""]


def _service_queue(domain: Domain, service: str) -> list[str]:
    service_class = _service_class(domain, service)
    lines = [
        "",
        f"#### {rpc_queue(domain.name, service)}",
        "",
        f"Service `{service}`: `{service_class.__module__}.{service_class.__name__}`.",
        "",
    ]
    rows = []
    for command in domain.commands(service):
        reply = _reply_of(service_class, command)
        rows.append(
            (
                f"`{command.message_type}`",
                command.__name__,
                _uses(domain, command),
                reply.__name__ if reply else "nothing (`result` is `{}`)",
            )
        )
    lines += _table(("command (`type`)", "contract", "sent as", "reply `result`"), rows)
    for command in domain.commands(service):
        lines += ["", f"`{command.__name__}` (`{command.message_type}`)", "", *_fields(command)]
        reply = _reply_of(service_class, command)
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


def _service_class(domain: Domain, service: str) -> type:
    # The container's ``services`` is a ``providers.Dict`` of singletons: read the classes
    # without building anything (no database is opened to write docs).
    providers = domain.container.services.kwargs  # type: ignore[attr-defined]
    service_class: type = providers[service].cls
    return service_class


def _reply_of(service_class: type, command: type[Command]) -> type[Contract] | None:
    """The reply type of the method of ``service_class`` that takes ``command``."""
    for name, method in inspect.getmembers(service_class, inspect.iscoroutinefunction):
        hints = typing.get_type_hints(method)
        reply = hints.pop("return", None)
        if not name.startswith("_") and command in hints.values():
            return reply if isinstance(reply, type) and issubclass(reply, Contract) else None
    return None


def _refusals(domain: Domain) -> list[str]:
    """The ``Refused`` subclasses of the domain's service modules: what ``error.type`` can say."""
    modules = {sys.modules[_service_class(domain, s).__module__] for s in domain.services}
    return sorted(
        name
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, Refused) and value is not Refused
    )


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
    return _table(("field", "type", "required", "constraints"), rows)


def _json_type(spec: Mapping[str, Any]) -> str:
    if "$ref" in spec:
        name = str(spec["$ref"]).rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(name)})"
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


# --- metrics.md --------------------------------------------------------------------------------


def metrics_doc(metrics: Metrics) -> str:
    families = metric_families(metrics)
    lines = [
        "# Metrics",
        "",
        GENERATED,
        "",
        "Every metric family a process registers (`messaging/metrics.py`). What each one tells",
        "and which panel and alert use it: [observability.md](../observability.md).",
        "",
        *_table(
            ("name", "type", "labels", "help"),
            ((f"`{n}`", t, ", ".join(f"`{x}`" for x in labels), h) for n, t, labels, h in families),
        ),
        "",
        "Counters are exposed with `_total`; histograms as `_bucket`, `_sum` and `_count`.",
        "",
        "## Histogram buckets (seconds)",
        "",
    ]
    for metric in _wrappers(metrics):
        if isinstance(metric, Histogram):
            bounds = ", ".join(f"{b:g}" for b in metric._upper_bounds[:-1])
            lines.append(f"- `{_name(metric)}`: {bounds}")
    lines += ["", "## Label values fixed by the code", ""]
    lines += _table(
        ("label", "values"),
        (
            ("`messaging_system`", f"`{MESSAGING_SYSTEM}`"),
            ("`hop`", _values(Hop)),
            ("`pattern`", _values(Pattern)),
            ("`outcome` of `interplay_messages_consumed_total`", _values(Outcome)),
            ("`reason` of `interplay_dead_letters_total`", _values(RejectReason)),
        ),
    )
    return "\n".join(lines) + "\n"


def metric_families(metrics: Metrics) -> list[tuple[str, str, tuple[str, ...], str]]:
    """Name (as exposed), type, label names and help of every family of ``metrics``."""
    families = []
    for metric in _wrappers(metrics):
        (family,) = metric.describe()
        name = family.name + "_total" if family.type == "counter" else family.name
        families.append((name, family.type, tuple(metric._labelnames), family.documentation))
    return families


def _wrappers(metrics: Metrics) -> list[MetricWrapperBase]:
    return [value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)]


def _name(metric: MetricWrapperBase) -> str:
    (family,) = metric.describe()
    return family.name


def _values(enum: Iterable[Any]) -> str:
    return ", ".join(f"`{member.value}`" for member in enum)


# --- configuration.md --------------------------------------------------------------------------

# For fields that carry no ``description`` of their own in ``Settings``.
DESCRIPTIONS = {
    "amqp_url": "the broker, `amqp://` or `amqps://` (TLS); a secret: never logged",
    "amqp_ca_file": "CA that signed the broker's certificate (TLS); unset: the system's CAs",
    "amqp_cert_file": "client certificate, for brokers that verify their peers",
    "amqp_key_file": "key of the client certificate",
    "amqp_verify_peer": "verify the broker's certificate and host name; `false` on a laptop only",
    "metrics_host": "address of `/metrics`, `/healthz` and `/readyz`",
    "metrics_port": "port of `/metrics`, `/healthz` and `/readyz`; `0` takes a free one",
    "pattern": "the pattern of every domain that has none of its own",
    "patterns": "the pattern per domain: `INTERPLAY_<DOMAIN>_PATTERN`, or `[patterns]` in the file",
    "queue_type": "the type of every durable queue",
    "delivery_limit": "quorum queues' `x-delivery-limit`: deliveries before RabbitMQ dead-letters",
    "prefetch": "unacked deliveries per consumer channel: for an orchestrator, flows at once",
    "max_body_bytes": "a bigger body is dead-lettered as `too_large`",
    "log_level": "Python log level of the process",
}


def configuration_doc(domains: Mapping[str, Domain]) -> str:
    lines = [
        "# Configuration",
        "",
        GENERATED,
        "",
        "Every process reads `interplay.settings.Settings`: environment variables `INTERPLAY_*`,",
        "then the TOML file named by `INTERPLAY_SETTINGS_FILE` (the same keys in lower case,",
        "patterns under `[patterns]`, each domain's options under `[domains.<name>]`).",
        "`INTERPLAY_<DOMAIN>_PATTERN` wins over `INTERPLAY_PATTERNS`; the environment wins over",
        "the file. How to switch: [howto/switch-a-pattern.md](../howto/switch-a-pattern.md).",
        "",
        *_table(("variable", "type", "default", "meaning"), setting_rows()),
        "",
        "## Domain options",
        "",
        "Each domain's container reads its options from `INTERPLAY_DOMAINS` (JSON, e.g.",
        '`{"payments": {"hang_seconds": 3}}`) or `[domains.<name>]` in the settings file:',
        "",
        *_table(("domain", "option", "default"), _domain_options(domains)),
    ]
    return "\n".join(lines) + "\n"


def setting_rows() -> list[tuple[str, str, str, str]]:
    """Variable, type, default and meaning of every ``Settings`` field."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        meaning = field.description or DESCRIPTIONS.get(name, "")
        if isinstance(field.annotation, type) and issubclass(field.annotation, Enum):
            meaning += f" ({' or '.join(f'`{m.value}`' for m in field.annotation)})"
        rows.append(
            (
                f"`INTERPLAY_{name.upper()}`",
                _type_name(field.annotation),
                _default_cell(default),
                meaning,
            )
        )
    return rows


def _default_cell(default: object) -> str:
    if default is PydanticUndefined:
        return "(required)"
    return "unset" if default is None else f"`{_json(default)}`"


def _domain_options(domains: Mapping[str, Domain]) -> list[tuple[str, str, str]]:
    rows = []
    for domain in domains.values():
        defaults = domain.container.config.get_default() or {}  # type: ignore[attr-defined]
        for option, value in defaults.items():
            rows.append((domain.name, f"`{option}`", f"`{_json(value)}`"))
        if not defaults:
            rows.append((domain.name, "(none)", ""))
    return rows


def _type_name(annotation: object) -> str:
    if annotation is SecretStr:
        return "`str` (secret)"
    text = str(annotation) if typing.get_args(annotation) else getattr(annotation, "__name__", "")
    for module in ("interplay.settings.", "orchestrators.workflow.", "messaging.topology."):
        text = text.replace(module, "")
    return f"`{text.replace('typing.', '').replace('NoneType', 'None')}`"


# --- markdown ----------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, dots and other punctuation dropped."""
    return "".join(c for c in title.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def _doc(contract: type[Contract]) -> str:
    own = contract.__dict__.get("__doc__")  # not the base class's
    return " ".join(own.split()) if isinstance(own, str) else "(no docstring)"


def _json(value: object) -> str:
    """A default as people would type it: JSON for collections, the secret's text."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()  # a public development default, as in the README
    if value is None:
        return "unset"
    if isinstance(value, bool | dict | list | tuple):
        return json.dumps(value)
    return str(value)
