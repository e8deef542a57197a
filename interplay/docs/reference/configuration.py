"""``docs/reference/configuration.md``: every field of ``interplay.settings.Settings`` and each
domain's options, with its variable, type, default and meaning."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from enum import Enum

from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from interplay.docs.reference.markdown import GENERATED, as_typed, table
from interplay.settings import Settings
from orchestrators import Domain

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
        *table(("variable", "type", "default", "meaning"), setting_rows()),
        "",
        "## Domain options",
        "",
        "Each domain's container reads its options from `INTERPLAY_DOMAINS` (JSON, e.g.",
        '`{"payments": {"hang_seconds": 3}}`) or `[domains.<name>]` in the settings file:',
        "",
        *table(("domain", "option", "default"), _domain_options(domains)),
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
    return "unset" if default is None else f"`{as_typed(default)}`"


def _domain_options(domains: Mapping[str, Domain]) -> list[tuple[str, str, str]]:
    rows = []
    for domain in domains.values():
        defaults = domain.container.config.get_default() or {}  # type: ignore[attr-defined]
        for option, value in defaults.items():
            rows.append((domain.name, f"`{option}`", f"`{as_typed(value)}`"))
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
