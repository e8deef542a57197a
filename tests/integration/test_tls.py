"""TLS to the broker, for real: a second RabbitMQ node that speaks only ``amqps``, verifying peers.

The shared broker on 5672 is left alone: this node has its own name, ports, data and config, and
is stopped afterwards. ``openssl`` issues a CA, the node's certificate and a client certificate,
plus a second, untrusted CA. The node requires a client certificate (``fail_if_no_peer_cert``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import pytest
from aiormq.exceptions import AMQPConnectionError

from interplay.settings import Settings
from messaging.broker import Broker
from tests.rabbitmq_node import rabbitmq_node

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class TlsNode:
    port: int
    certificates: Path

    def settings(self, **files: str | None) -> Settings:
        """Settings as read from ``INTERPLAY_AMQP_*``; file names are in the certificates folder."""
        paths = {
            key: str(self.certificates / name) if name else None for key, name in files.items()
        }
        return Settings(amqp_url=f"amqps://guest:guest@localhost:{self.port}/", **paths)  # type: ignore[arg-type]


def openssl(folder: Path, *arguments: str) -> None:
    subprocess.run(["openssl", *arguments], cwd=folder, check=True, capture_output=True)


def issue_ca(folder: Path, name: str) -> None:
    openssl(
        folder,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.pem",
        "-subj",
        f"/CN=interplay test {name}",
    )


def issue(folder: Path, name: str, ca: str, subject: str, extensions: str = "") -> None:
    """A key and a certificate for ``subject``, signed by ``ca``."""
    openssl(
        folder,
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        f"/CN={subject}",
    )
    (folder / f"{name}.ext").write_text(extensions + "\n")
    openssl(
        folder,
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        f"{ca}.pem",
        "-CAkey",
        f"{ca}.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        f"{name}.pem",
        "-extfile",
        f"{name}.ext",
    )


def tls_listener(folder: Path, port: int) -> str:
    """Certificates in ``folder`` and the node's config: ``amqps`` only, peers verified."""
    issue_ca(folder, "ca")
    issue(folder, "server", "ca", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    issue(folder, "client", "ca", "orders")
    issue_ca(folder, "other-ca")
    issue(folder, "stranger", "other-ca", "orders")
    return (
        "listeners.tcp = none\n"
        f"listeners.ssl.default = 127.0.0.1:{port}\n"
        f"ssl_options.cacertfile = {folder / 'ca.pem'}\n"
        f"ssl_options.certfile = {folder / 'server.pem'}\n"
        f"ssl_options.keyfile = {folder / 'server.key'}\n"
        "ssl_options.verify = verify_peer\n"
        "ssl_options.fail_if_no_peer_cert = true\n"
    )


@pytest.fixture(scope="module")
def tls_node() -> Iterator[TlsNode]:
    if not shutil.which("openssl"):  # scripts/install-deploy-tools.sh installs it
        why = "needs openssl; see docs/reliability.md, TLS, for the manual check"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    with rabbitmq_node("interplay-tls", tls_listener) as node:
        yield TlsNode(node.port, node.folder)


CLIENT = {"amqp_ca_file": "ca.pem", "amqp_cert_file": "client.pem", "amqp_key_file": "client.key"}


async def connect(settings: Settings) -> Broker:
    return await asyncio.wait_for(Broker.connect(settings.broker("interplay tls test")), 10)


async def test_a_client_with_its_certificate_exchanges_a_message_over_tls(
    tls_node: TlsNode,
) -> None:
    broker = await connect(tls_node.settings(**CLIENT))  # the node has no plain listener
    try:
        channel = await broker.channel()
        queue = await channel.declare_queue(exclusive=True)
        await channel.default_exchange.publish(aio_pika.Message(b"over tls"), queue.name)
        message = await queue.get(timeout=5)
        assert message.body == b"over tls"
    finally:
        await broker.close()


async def test_a_client_without_a_certificate_is_refused(tls_node: TlsNode) -> None:
    with pytest.raises(AMQPConnectionError):
        await connect(tls_node.settings(amqp_ca_file="ca.pem"))


async def test_a_client_certificate_from_an_unknown_ca_is_refused(tls_node: TlsNode) -> None:
    settings = tls_node.settings(
        amqp_ca_file="ca.pem", amqp_cert_file="stranger.pem", amqp_key_file="stranger.key"
    )
    with pytest.raises(AMQPConnectionError):
        await connect(settings)


async def test_a_broker_whose_certificate_the_client_does_not_trust_is_refused(
    tls_node: TlsNode,
) -> None:
    settings = tls_node.settings(
        amqp_ca_file="other-ca.pem", amqp_cert_file="client.pem", amqp_key_file="client.key"
    )
    with pytest.raises(AMQPConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await connect(settings)
