"""Test helpers that administer the local RabbitMQ: a fresh vhost per test session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from yarl import URL

BROKER_URL = os.environ.get("INTERPLAY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def rabbitmqctl(*arguments: str, check: bool = True) -> str:
    if shutil.which("rabbitmqctl") is None:
        raise RuntimeError("rabbitmqctl is not on PATH: run scripts/ensure-rabbitmq first")
    result = subprocess.run(
        ["rabbitmqctl", "-q", *arguments], capture_output=True, text=True, timeout=60
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(arguments)} failed: {result.stderr.strip()}")
    return result.stdout


@contextmanager
def fresh_vhost(
    prefix: str = "interplay-test",
    broker_url: str = BROKER_URL,
    ctl: Callable[..., str] = rabbitmqctl,
) -> Iterator[str]:
    """A vhost of its own, guest allowed everything, deleted afterwards; yields its AMQP URL.

    ``broker_url`` and ``ctl`` name another broker (a node of the test's own, ``rabbitmq_node``).
    """
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    ctl("add_vhost", name)
    try:
        ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield str(URL(broker_url).with_path("/" + name))
    finally:
        ctl("delete_vhost", name, check=False)


def queue_depth(vhost_url: str, queue: str) -> int:
    vhost = URL(vhost_url).path.lstrip("/")
    for line in rabbitmqctl("list_queues", "-p", vhost, "name", "messages").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == queue:
            return int(parts[1])
    raise KeyError(queue)


def queues_named(vhost_url: str, prefix: str) -> list[str]:
    """The queues of the vhost of ``vhost_url`` whose names start with ``prefix``."""
    listed = rabbitmqctl("list_queues", "--no-table-headers", "-p", vhost_of(vhost_url), "name")
    return [name for name in listed.split() if name.startswith(prefix)]


def close_connection_named(name: str, reason: str = "closed by a test") -> None:
    """Close, as the broker would, every connection whose client named itself ``name``."""
    listed = rabbitmqctl("list_connections", "--no-table-headers", "pid", "client_properties")
    named = f'{{"connection_name","{name}"}}'
    pids = [line.split("\t")[0] for line in listed.splitlines() if named in line]
    if not pids:
        raise LookupError(f"no connection named {name!r}")
    for pid in pids:
        rabbitmqctl("close_connection", pid, reason)


def vhost_of(vhost_url: str) -> str:
    return URL(vhost_url).path[1:]


def url_as(vhost_url: str, user: str, password: str) -> str:
    """The AMQP URL of ``vhost_url`` logged in as another user."""
    return str(URL(vhost_url).with_user(user).with_password(password))


@contextmanager
def imported_users(definitions: dict[str, Any], vhost_url: str) -> Iterator[dict[str, str]]:
    """The users of a definitions document, with their permissions, on the vhost of ``vhost_url``.

    Users are global on a broker, so each is imported under a unique prefix and deleted
    afterwards. Yields each user's name in the document -> its name on the broker.
    """
    vhost = vhost_of(vhost_url)
    prefix = f"interplay-test-{uuid.uuid4().hex[:6]}-"
    names = {user["name"]: prefix + user["name"] for user in definitions["users"]}

    def moved(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [dict(entry, user=names[entry["user"]], vhost=vhost) for entry in entries]

    imported = {
        "vhosts": [{"name": vhost}],
        "users": [dict(user, name=names[user["name"]]) for user in definitions["users"]],
        "permissions": moved(definitions["permissions"]),
        "topic_permissions": moved(definitions.get("topic_permissions", [])),
        "exchanges": [dict(e, vhost=vhost) for e in definitions.get("exchanges", [])],
    }
    try:
        # From stdin: rabbitmqctl runs as the rabbitmq user, who cannot read pytest's tmp folders.
        result = subprocess.run(
            ["rabbitmqctl", "-q", "import_definitions"],
            input=json.dumps(imported),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"importing definitions failed: {result.stderr.strip()}")
        yield names
    finally:
        # One rabbitmqctl per user takes a second each: run them side by side.
        deleting = [
            subprocess.Popen(
                ["rabbitmqctl", "-q", "delete_user", user],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for user in names.values()
        ]
        for process in deleting:
            process.wait(60)
