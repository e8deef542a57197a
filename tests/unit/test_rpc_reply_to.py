"""Where RPC replies come back (``INTERPLAY_RPC_REPLY_TO``): the setting, how it reaches the
processes, and reply queue names the domain's broker user may declare and consume."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from domains.registry import DOMAINS
from interplay.bootstrap import Application
from interplay.broker.definitions import domain_user
from interplay.settings import Settings
from messaging.topology import ReplyTo, reply_queue


def test_replies_come_through_direct_reply_to_unless_asked_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("INTERPLAY_RPC_REPLY_TO", raising=False)
    assert Settings().rpc_reply_to is ReplyTo.DIRECT


def test_queue_mode_reaches_every_process_of_the_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERPLAY_RPC_REPLY_TO", "queue")
    application = Application(settings=Settings())
    assert application.options().rpc_reply_to is ReplyTo.QUEUE


def test_an_unknown_mode_is_refused_with_the_modes_there_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INTERPLAY_RPC_REPLY_TO", "fanout")
    with pytest.raises(ValidationError, match="rpc_reply_to") as refused:
        Settings()
    assert "'direct' or 'queue'" in str(refused.value)


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_a_domain_may_declare_and_consume_its_own_reply_queues_and_no_other_domains(
    domain: str,
) -> None:
    user = domain_user(DOMAINS[domain])
    own = reply_queue(domain)
    others = [reply_queue(other) for other in DOMAINS if other != domain]
    for permission in (user.configure, user.read):
        assert re.search(permission, own)
        assert not any(re.search(permission, name) for name in others)
    assert not re.search(user.write, own)  # replies reach it through amq.default


def test_every_reply_queue_has_a_name_of_its_own() -> None:
    names = {reply_queue("orders") for _ in range(100)}
    assert len(names) == 100
    assert all(re.fullmatch(r"orders\.replies\.[0-9a-f]{32}", name) for name in names)
