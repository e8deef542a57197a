"""The small HTTP endpoint every process serves: ``/metrics``, ``/healthz``, ``/readyz``.

``/metrics`` answers in the OpenMetrics format when the scraper accepts it (Prometheus does),
with the trace id of a recorded span as the exemplar of latency observations; else in the
Prometheus text format."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import cast

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition

_END_OF_HEADERS = (b"\r\n", b"\n", b"")
# prometheus-client's OpenMetrics writer has no annotations; this is its signature.
_openmetrics = cast(Callable[[CollectorRegistry], bytes], exposition.generate_latest)


class HealthServer:
    """Serves the registry's metrics, liveness, and readiness as ``is_ready()`` says."""

    def __init__(self, registry: CollectorRegistry, is_ready: Callable[[], bool]) -> None:
        self.registry = registry
        self.is_ready = is_ready
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Start listening; returns the port (useful with port 0)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            openmetrics = False
            while (line := await asyncio.wait_for(reader.readline(), 5)) not in _END_OF_HEADERS:
                # Only Accept matters: Prometheus asks for OpenMetrics, which shows exemplars.
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"accept" and b"application/openmetrics-text" in value:
                    openmetrics = True
            status, content_type, body = self._respond(
                request.decode("latin-1").split(), openmetrics
            )
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass  # a client that hangs up or stalls gets nothing
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _respond(self, request: list[str], openmetrics: bool) -> tuple[str, str, bytes]:
        if len(request) < 2 or request[0] not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        path = request[1].split("?", 1)[0]
        if path == "/metrics" and openmetrics:
            return "200 OK", exposition.CONTENT_TYPE_LATEST, _openmetrics(self.registry)
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if path == "/healthz":
            return "200 OK", "text/plain", b"ok\n"
        if path == "/readyz":
            if self.is_ready():
                return "200 OK", "text/plain", b"ready\n"
            return "503 Service Unavailable", "text/plain", b"not ready\n"
        return "404 Not Found", "text/plain", b"/metrics, /healthz or /readyz\n"
