"""Configuration from ``INTERPLAY_*`` environment variables and an optional file.

Every setting has a default that runs on a developer machine. The pattern of a domain is
``INTERPLAY_<DOMAIN>_PATTERN`` (``INTERPLAY_PAYMENTS_PATTERN=choreography``), falling back to
``INTERPLAY_PATTERN``. A settings file (``INTERPLAY_SETTINGS_FILE``, TOML) may set the same
keys in lower case, patterns under ``[patterns]`` and each domain's own options under
``[domains.<name>]``.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from interplay.event_loop import EventLoop
from messaging.broker import BrokerSettings
from messaging.retries import RetryPolicy
from messaging.topology import QueueOptions, QueueType, ReplyTo
from orchestrators import Pattern
from orchestrators.state.retention import RetentionPolicy

_PATTERN_VARIABLE = re.compile(r"^INTERPLAY_([A-Z][A-Z0-9_]*)_PATTERN$")


class Settings(BaseSettings):
    """Everything a process needs to know; see docs/reference/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="INTERPLAY_", extra="ignore")

    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    amqp_ca_file: str | None = None
    amqp_cert_file: str | None = None
    amqp_key_file: str | None = None
    amqp_verify_peer: bool = True
    database_url: str = Field(
        "sqlite+aiosqlite:///.interplay/{domain}.sqlite3",
        description="SQLAlchemy URL; {domain} is replaced by the domain's name",
    )
    database_pool_size: int = Field(
        10,
        ge=1,
        description="PostgreSQL connections a process keeps per domain (as many again at a "
        "peak); processes x domains x twice this must stay under the server's max_connections",
    )
    migrate_on_start: bool = Field(
        True,
        description="true: a process brings its domain's database to the newest schema as it "
        "starts; false: it refuses to start on an older one, and `interplay db upgrade` (a "
        "one-shot job of the deploy) migrates",
    )
    retention_age: float = Field(
        7 * 24 * 3600.0,
        gt=0,
        description="seconds (7 days) after which handled inbox rows, sent outbox rows and ended "
        "flows are deleted",
    )
    retention_every: float = Field(
        3600.0, ge=0, description="seconds between a process's retention runs; 0: none"
    )
    retention_batch: int = Field(
        1000, ge=1, description="rows deleted per transaction, so that no table is locked long"
    )
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9464
    pattern: Pattern = Pattern.ORCHESTRATION
    patterns: dict[str, Pattern] = Field(default_factory=dict)
    domains: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per-domain options handed to the domain's container config, as JSON: "
        '{"payments": {"hang_seconds": 3}}',
    )
    queue_type: QueueType = QueueType.QUORUM
    delivery_limit: int = 20
    queue_replicas: int = Field(
        3, ge=1, description="members of each quorum queue: nodes that must agree on a message"
    )
    rpc_reply_to: ReplyTo = Field(
        ReplyTo.DIRECT,
        description="where an orchestrator takes its RPC replies: RabbitMQ's direct reply-to "
        "(the fastest, for one node) or a queue of its own (for a cluster: on RabbitMQ 3.10 a "
        "reply to the direct reply-to of a caller whose node is down closes the replier's "
        "connection, at every redelivery; docs/reliability.md)",
    )
    prefetch: int = 64
    max_body_bytes: int = 256 * 1024
    retry_attempts: int = Field(4, ge=1, description="tries of a message whose handler fails")
    retry_first_delay: float = Field(0.5, gt=0, description="seconds before the first retry")
    retry_multiplier: float = Field(4.0, ge=1, description="each retry waits this much longer")
    step_timeout: float | None = Field(None, description="overrides every step's own timeout")
    wait_timeout: float | None = Field(
        None, gt=0, description="overrides how long every waiting step waits (a challenge...)"
    )
    sweep_every: float = Field(5.0, gt=0, description="seconds between sweeps for stuck flows")
    sweep_grace: float = Field(
        30.0, ge=0, description="seconds past its deadline before the sweeper ends a flow"
    )
    sweep_stale_after: float = Field(
        60.0, gt=0, description="seconds a flow may compensate with no progress before a sweep"
    )
    event_loop: EventLoop = Field(
        "asyncio",
        description="the event loop of `interplay run`: asyncio, or uvloop "
        "(pip install 'interplay[uvloop]'; the image has it)",
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        "text", description="text for people, json (one object per line) for log shippers"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            _PatternVariables(settings_cls),
            env_settings,
            file_secret_settings,
        ]
        settings_file = os.environ.get("INTERPLAY_SETTINGS_FILE")
        if settings_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=settings_file))
        return tuple(sources)

    def pattern_of(self, domain: str) -> Pattern:
        return self.patterns.get(domain, self.pattern)

    def database_url_of(self, domain: str) -> str:
        return self.database_url.replace("{domain}", domain)

    def broker(self, client_name: str) -> BrokerSettings:
        return BrokerSettings(
            url=self.amqp_url.get_secret_value(),
            client_name=client_name,
            ca_file=self.amqp_ca_file,
            cert_file=self.amqp_cert_file,
            key_file=self.amqp_key_file,
            verify_peer=self.amqp_verify_peer,
        )

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.retry_attempts,
            first_delay=self.retry_first_delay,
            multiplier=self.retry_multiplier,
        )

    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            age=self.retention_age, every=self.retention_every, batch=self.retention_batch
        )

    def queues(self) -> QueueOptions:
        return QueueOptions(
            queue_type=self.queue_type,
            delivery_limit=self.delivery_limit,
            replicas=self.queue_replicas,
        )


class _PatternVariables(PydanticBaseSettingsSource):
    """Reads ``INTERPLAY_<DOMAIN>_PATTERN`` variables into ``patterns``."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        patterns = {
            match.group(1).lower(): value
            for name, value in os.environ.items()
            if (match := _PATTERN_VARIABLE.match(name))
        }
        return {"patterns": patterns} if patterns else {}
