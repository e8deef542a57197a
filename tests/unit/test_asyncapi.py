"""The AsyncAPI document: generated from the contracts, committed, valid for the official parser.

``docs/asyncapi.yaml`` must be what ``interplay asyncapi`` writes now, so that it cannot go stale;
and ``@asyncapi/parser`` (npm, installed once by ``scripts/install-asyncapi-parser.sh``) must
find no error in it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from domains.registry import DOMAINS
from interplay.cli.documents import asyncapi_text
from interplay.docs.asyncapi import asyncapi_document, identifier
from messaging.topology import operations_queue, rpc_queue
from orchestrators.operations.contracts import ANSWERS

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document(DOMAINS.values())


@pytest.fixture(scope="module")
def parser_dir() -> Path:
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: install node 20 and npm (the AsyncAPI parser needs it)")
    installed = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-asyncapi-parser.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    return Path(installed.stdout.strip())


def test_the_committed_document_is_the_generated_one() -> None:
    assert COMMITTED.read_text() == asyncapi_text(), "stale: run `interplay asyncapi`"


def test_the_official_parser_finds_no_error(parser_dir: Path) -> None:
    validator = ROOT / "scripts" / "validate-asyncapi.cjs"
    parsed = subprocess.run(
        ["node", str(validator), str(parser_dir), str(COMMITTED)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    assert "valid AsyncAPI 3.0.0" in parsed.stdout


def test_every_event_is_a_channel_on_the_topic_exchange(document: dict[str, Any]) -> None:
    for domain in DOMAINS.values():
        for event in (*domain.publishes, *domain.consumes):
            channel = document["channels"][identifier(event.message_type)]
            assert channel["address"] == event.message_type
            assert channel["bindings"]["amqp"]["exchange"]["type"] == "topic"


def test_each_command_is_received_on_its_rpc_queue_and_answered(document: dict[str, Any]) -> None:
    for domain in DOMAINS.values():
        for service in domain.services:
            queue = rpc_queue(domain.name, service)
            channel = document["channels"][identifier(queue)]
            assert channel["bindings"]["amqp"]["queue"]["name"] == queue
            for command in domain.commands(service):
                assert command.__name__ in channel["messages"]
                operation = document["operations"][
                    identifier(f"{domain.name}.{service}.{command.message_type}")
                ]
                assert operation["action"] == "receive"
                assert operation["reply"]["address"]["location"] == "$message.header#/reply_to"


def test_each_domain_answers_an_operators_requests_on_its_operations_queue(
    document: dict[str, Any],
) -> None:
    for domain in DOMAINS.values():
        queue = operations_queue(domain.name)
        channel = document["channels"][identifier(queue)]
        assert f"interplay.operations.{domain.name}" in channel["description"]
        for request, answer in ANSWERS.items():
            assert request.__name__ in channel["messages"]
            operation = document["operations"][
                identifier(f"{domain.name}.operations.{request.message_type}")
            ]
            assert operation["reply"]["address"]["location"] == "$message.header#/reply_to"
            reply = document["components"]["messages"][f"{request.__name__}Reply"]
            success, _ = reply["payload"]["oneOf"]
            assert success["properties"]["result"] == {
                "$ref": f"#/components/schemas/{answer.__name__}"
            }


def test_a_reply_carries_the_commands_result_or_a_typed_failure(document: dict[str, Any]) -> None:
    reply = document["components"]["messages"]["AuthorisePaymentReply"]
    success, failure = reply["payload"]["oneOf"]

    assert success["properties"]["result"] == {"$ref": "#/components/schemas/PaymentAuthorised"}
    assert failure["properties"]["error"] == {"$ref": "#/components/schemas/RpcFailure"}
    assert reply["traits"] == [{"$ref": "#/components/messageTraits/reply"}]


def test_the_envelope_is_in_every_messages_headers(document: dict[str, Any]) -> None:
    traits = document["components"]["messageTraits"]
    for trait in traits.values():
        headers = trait["headers"]["properties"]
        assert {"correlation_id", "cloudEvents:id", "causation_id", "traceparent"} <= set(headers)
        assert {"schema_version", "message_id", "type", "app_id"} <= set(headers)
    assert "reply_to" in traits["command"]["headers"]["required"]
    for message in document["components"]["messages"].values():
        assert len(message["traits"]) == 1


def test_shared_definitions_live_in_components(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    assert "OrderLine" in schemas
    assert all("$defs" not in schema for schema in schemas.values())
