"""RabbitMQ definitions for least privilege, generated from the domain registry (design §8).

Each domain logs in as its own user, named after the domain, who may declare, read and write only
the names the framework declares for it (``messaging.topology``, ``orchestrators.choreography``)
and the shared exchanges. A **topic permission** on ``interplay.events`` lets it publish only its
own routing keys (``^payments\\.``) and bind only the keys its workflows consume. Two more users:

- ``storefront``: the outside that places orders (``interplay publish``); it may publish the
  events no domain publishes but some domain consumes (``orders.order.placed``), nothing else;
- ``operator``: a person at the command line, opt-in (``operator=True``): publishes what the
  storefront publishes, watches a flow (``publish --follow``) and, alone but for admin, asks the
  domains about their flows through ``interplay.operations.<domain>`` (``flows``, ``trace``);
- ``admin``: the operator's login for the management UI (tag ``administrator``); no process uses it.

A password is never made up: it comes from ``<PREFIX><USER>_PASSWORD`` and is stored as RabbitMQ
stores it (``rabbit_password_hashing_sha256``). Example::

    users = broker_users(DOMAINS.values())
    document = definitions(users, vhost="/", passwords=passwords_from(os.environ, users))
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from messaging.topology import (
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    dead_letter_queue,
    inbox_queue,
    internal_exchange,
    operations_exchange,
    operations_queue,
    reply_queues,
    rpc_queue,
)
from orchestrators import Domain
from orchestrators.choreography import step_queue

HASHING_ALGORITHM = "rabbit_password_hashing_sha256"
ADMIN = "admin"
STOREFRONT = "storefront"
OPERATOR = "operator"
# The queue ``interplay publish --follow`` declares without a name: aio-pika names it
# ``amq_<uuid hex>`` (RabbitMQ itself would say ``amq.gen-<random>``), and RabbitMQ checks
# configure, write and read against that name.
WATCH_QUEUE = r"(amq_[0-9a-f]{32}|amq\.gen-[A-Za-z0-9_-]+)"
SHARED_EXCHANGES = (EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE)
# RPC requests go to a service's queue, replies to the caller's reply_to, both through the
# default exchange, which RabbitMQ authorises as ``amq.default`` whatever the target queue.
DEFAULT_EXCHANGE = "amq.default"
NOTHING = "^$"
EVERYTHING = ".*"
_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


class MissingPasswords(ValueError):
    """Some users have no password in the environment; nothing is written."""

    def __init__(self, variables: list[str]) -> None:
        super().__init__(f"set {', '.join(variables)}; a broker user never gets a default password")
        self.variables = variables


@dataclass(frozen=True, slots=True)
class BrokerUser:
    """A user and what it may do on the vhost; ``topic_*`` apply to ``interplay.events``."""

    name: str
    configure: str
    write: str
    read: str
    topic_write: str | None = None
    topic_read: str | None = None
    tags: tuple[str, ...] = ()


RETRY_SUFFIX = r"(\.retry\.[0-9]+)?"  # each queue's delay queues: ``<queue>.retry.<ms>``


def exactly(names: Iterable[str], suffix: str = "") -> str:
    r"""A permission regex that matches these names and no other, grouped by first segment.

    >>> exactly(["orders.inbox", "orders.dead-letter", "amq.default"])
    '^(orders\\.(inbox|dead-letter)|amq\\.default)$'
    """
    groups: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a queue, exchange or routing key interplay declares")
        first, _, rest = name.partition(".")
        groups.setdefault(first, []).append(rest)
    return f"^({'|'.join(_group(first, rests) for first, rests in groups.items())}){suffix}$"


def _group(first: str, rests: list[str]) -> str:
    """``orders`` + ``[inbox, dead-letter]`` -> ``orders\\.(inbox|dead-letter)``."""
    tails = [_literal(rest) for rest in rests if rest]
    if not tails:
        return _literal(first)
    either = tails[0] if len(tails) == 1 else f"({'|'.join(tails)})"
    optional = "" in rests  # ``first`` itself is one of the names too
    return _literal(first) + (f"(\\.{either})?" if optional else f"\\.{either}")


def _literal(name: str) -> str:
    return name.replace(".", r"\.")


def own_names(domain: Domain) -> tuple[str, ...]:
    """Every queue and exchange the framework declares for ``domain``, in either pattern."""
    name = domain.name
    return (
        inbox_queue(name),
        dead_letter_queue(name),
        internal_exchange(name),
        operations_queue(name),
        operations_exchange(name),
        *(rpc_queue(name, service) for service in domain.services),
        *(step_queue(name, wf, step) for wf in domain.workflows for step in wf.steps),
    )


def reply_queue_names(domain: str) -> str:
    """A regex for the domain's RPC reply queues, named anew at every connection (``ReplyTo``)."""
    return f"^{_literal(reply_queues(domain))}\\.[0-9a-f]{{32}}$"


def domain_user(domain: Domain) -> BrokerUser:
    """Declares, binds and consumes its own names; publishes its own events only.

    It declares the shared exchanges too (so it needs configure on them), binds its queues to
    them (read) and publishes to them (write); queues dead-letter to ``interplay.dead-letter``,
    which RabbitMQ checks as a write when the queue is declared. Only the operator may publish
    to its operations exchange. Its orchestrator may declare and consume its own reply queues.
    """
    names = (*own_names(domain), *SHARED_EXCHANGES)
    publishes_to = (*(n for n in names if n != operations_exchange(domain.name)), DEFAULT_EXCHANGE)
    return BrokerUser(
        name=domain.name,
        configure=f"{exactly(names, RETRY_SUFFIX)}|{reply_queue_names(domain.name)}",
        write=exactly(publishes_to, RETRY_SUFFIX),
        read=f"{exactly(names, RETRY_SUFFIX)}|{reply_queue_names(domain.name)}",
        topic_write=f"^{re.escape(domain.name)}\\.",
        topic_read=exactly(event.message_type for event in domain.consumes),
    )


def external_events(domains: Iterable[Domain]) -> list[str]:
    """Routing keys some domain consumes and none publishes: they come from outside."""
    domains = list(domains)
    published = {event.message_type for d in domains for event in d.publishes}
    consumed = (event.message_type for d in domains for event in d.consumes)
    return sorted(set(consumed) - published)


def storefront_user(domains: Iterable[Domain]) -> BrokerUser:
    """Publishes the external events to ``interplay.events``, which it looks up (never declares).

    It reads nothing, so ``interplay publish --follow`` (which binds a queue to every event)
    needs another user.
    """
    return BrokerUser(
        name=STOREFRONT,
        configure=NOTHING,  # it looks the exchange up (passive): configure would allow deleting it
        write=exactly([EVENTS_EXCHANGE]),
        read=NOTHING,
        topic_write=exactly(external_events(domains)),
        topic_read=NOTHING,
    )


def operator_user(domains: Iterable[Domain]) -> BrokerUser:
    """Places orders as the storefront does and watches them: ``interplay publish ... --follow``;
    asks the domains about their flows: ``interplay flows``, ``interplay trace``.

    The watch queue has a generated name (``WATCH_QUEUE``): the only thing the operator
    declares (the exchanges it uses are looked up, so it may delete none). It binds that queue
    to ``#`` on ``interplay.events`` (topic read ``.*``) to see every event of a flow, publishes
    only the external events, and asks through each domain's operations exchange (replies come
    on direct reply-to: no permission).
    """
    domains = list(domains)
    watches = f"{_literal(EVENTS_EXCHANGE)}|{WATCH_QUEUE}"
    asks = "|".join([watches, *(_literal(operations_exchange(d.name)) for d in domains)])
    return BrokerUser(
        OPERATOR,
        f"^({WATCH_QUEUE})$",  # exchanges are looked up, never declared: no right to delete one
        f"^({asks})$",
        f"^({watches})$",
        topic_write=exactly(external_events(domains)),
        topic_read=EVERYTHING,
    )


def admin_user() -> BrokerUser:
    return BrokerUser(ADMIN, EVERYTHING, EVERYTHING, EVERYTHING, tags=("administrator",))


def broker_users(
    domains: Iterable[Domain],
    *,
    storefront: bool = True,
    operator: bool = False,
    admin: bool = True,
) -> list[BrokerUser]:
    domains = list(domains)
    users = [domain_user(domain) for domain in domains]
    if storefront:
        users.append(storefront_user(domains))
    if operator:
        users.append(operator_user(domains))
    if admin:
        users.append(admin_user())
    return users


def password_variable(user: str, prefix: str = "") -> str:
    """``payments`` -> ``PAYMENTS_PASSWORD`` (as deploy/rabbitmq/render_definitions.py reads)."""
    return f"{prefix}{user.upper().replace('-', '_')}_PASSWORD"


def passwords_from(
    environ: Mapping[str, str], users: Iterable[BrokerUser], prefix: str = ""
) -> dict[str, str]:
    """Each user's password from the environment; ``MissingPasswords`` names what is unset."""
    users = list(users)
    variables = [password_variable(u.name, prefix) for u in users]
    missing = [variable for variable in variables if not environ.get(variable)]
    if missing:
        raise MissingPasswords(missing)
    return {u.name: environ[password_variable(u.name, prefix)] for u in users}


def password_hash(password: str, salt: bytes | None = None) -> str:
    """How RabbitMQ stores a password: base64(salt + sha256(salt + password)), 4-byte salt."""
    salt = os.urandom(4) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def definitions(
    users: Iterable[BrokerUser], *, vhost: str = "/", passwords: Mapping[str, str] | None
) -> dict[str, Any]:
    """The document ``rabbitmqctl import_definitions`` (or ``load_definitions``) takes.

    ``passwords=None`` leaves every ``password_hash`` empty, for a deploy step that fills in the
    passwords (deploy/rabbitmq/render_definitions.py): no hash is kept in the repository.
    """
    users = list(users)
    return {
        "vhosts": [{"name": vhost}],
        "users": [_user(user, passwords) for user in users],
        "permissions": [
            {
                "user": u.name,
                "vhost": vhost,
                "configure": u.configure,
                "write": u.write,
                "read": u.read,
            }
            for u in users
        ],
        "topic_permissions": [
            {
                "user": u.name,
                "vhost": vhost,
                "exchange": EVENTS_EXCHANGE,
                "write": u.topic_write,
                "read": u.topic_read or NOTHING,
            }
            for u in users
            if u.topic_write is not None
        ],
        "exchanges": [
            _exchange(vhost, EVENTS_EXCHANGE, "topic"),
            _exchange(vhost, DEAD_LETTER_EXCHANGE, "direct"),
        ],
    }


def _user(user: BrokerUser, passwords: Mapping[str, str] | None) -> dict[str, Any]:
    return {
        "name": user.name,
        "password_hash": "" if passwords is None else password_hash(passwords[user.name]),
        "hashing_algorithm": HASHING_ALGORITHM,
        "tags": list(user.tags),
    }


def _exchange(vhost: str, name: str, kind: str) -> dict[str, Any]:
    """Declared as the framework declares it, so that both declarations agree."""
    flags = {"durable": True, "auto_delete": False, "internal": False, "arguments": {}}
    return {"name": name, "vhost": vhost, "type": kind, **flags}
