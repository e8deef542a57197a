"""Run interplay domains as real processes for end-to-end and fault tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

INTERPLAY = str(Path(sys.executable).with_name("interplay"))
# A process is ready in 2-5 s on a quiet day. Ten of them starting at once on two busy cores
# took over 30 s (CI, load average above 10): the bound allows a slow day's 2-4x and more.
READY_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


@dataclass
class DomainProcess:
    """One ``interplay run <domain>`` process with its own metrics port and log file."""

    domain: str
    env: dict[str, str]
    log_path: Path
    role: str = "all"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **self.env, "INTERPLAY_METRICS_PORT": str(self.port)}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [INTERPLAY, "run", self.domain, "--role", self.role],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, seconds: float = READY_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.domain} exited: {self.log_path.read_text()[-2000:]}")
            try:
                if http_get(f"http://127.0.0.1:{self.port}/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.domain} not ready in {seconds}s: {self.log_path.read_text()}")

    def is_ready(self) -> bool:
        """``/readyz`` answers 200 now (connected to the broker, every queue consumed)."""
        try:
            return http_get(f"http://127.0.0.1:{self.port}/readyz", timeout=1.0)[0] == 200
        except OSError:
            return False

    def metrics(self) -> str:
        return http_get(f"http://127.0.0.1:{self.port}/metrics")[1]

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, as a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def system_env(amqp_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "INTERPLAY_AMQP_URL": amqp_url,
        "INTERPLAY_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir}/{{domain}}.sqlite3",
        "INTERPLAY_METRICS_HOST": "127.0.0.1",
        "INTERPLAY_LOG_LEVEL": "WARNING",
        **extra,
    }
