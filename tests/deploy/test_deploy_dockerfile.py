"""The image recipe: linted by hadolint, parsed by Docker's parser, its build context and
healthcheck exercised here (no Docker engine on the build machines)."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.deploy_harness import (
    DEPLOY,
    REPO,
    dockerfile_entrypoint,
    free_port,
    module,
    run,
    tool,
)

DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[Any]:
    parsed: list[Any] = list(module("dockerfile").parse_file(str(DOCKERFILE)))
    return parsed


def stages() -> list[list[Any]]:
    """Instructions grouped by build stage (everything after each FROM)."""
    grouped: list[list[Any]] = []
    for command in instructions():
        if command.cmd == "FROM":
            grouped.append([])
        if grouped:
            grouped[-1].append(command)
    return grouped


def test_hadolint_finds_nothing() -> None:
    result = run(tool("hadolint"), "--no-color", DOCKERFILE, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_multi_stage_on_python_slim_and_runs_as_a_numeric_non_root_user() -> None:
    build, runtime = stages()
    base = next(c for c in instructions() if c.cmd == "ARG" and "PYTHON_IMAGE" in c.value[0])
    # Pinned to a patch release, never a floating tag; CI passes its own Debian-built base.
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm", base.value[0])
    assert build[0].value[0] == runtime[0].value[0] == "${PYTHON_IMAGE}"
    users = [c.value[0] for c in runtime if c.cmd == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"


def test_builds_without_a_registry_frontend_and_labels_version_and_revision() -> None:
    # `# syntax=` makes BuildKit pull a frontend image: no registry, no build.
    assert not DOCKERFILE.read_text().lstrip().lower().startswith("# syntax")
    labels = " ".join(" ".join(c.value) for c in stages()[-1] if c.cmd == "LABEL")
    for label in ("version", "revision", "source", "title"):
        assert f"org.opencontainers.image.{label} " in labels, label


def constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO / "deploy" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_constraints_pin_every_dependency_within_what_pyproject_asks() -> None:
    # The image installs with `--constraint deploy/constraints.txt`; after a change to the
    # dependencies, scripts/lock-image-deps writes it anew. The built image is compared with it
    # in test_deploy_stack.py.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = [*project["dependencies"], *extras["uvloop"], *extras["otel"]]
    pins = constraints()
    stale = []
    for requirement in map(Requirement, wanted):
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None or not requirement.specifier.contains(pinned, prereleases=True):
            stale.append(f"{requirement} (pinned: {pinned})")
    assert stale == [], "run scripts/lock-image-deps: " + ", ".join(stale)
    assert "--constraint constraints.txt" in DOCKERFILE.read_text()


def test_runtime_stage_holds_no_build_tools_or_secrets() -> None:
    runtime = stages()[-1]
    runtime_runs = " ".join(" ".join(c.value) for c in runtime if c.cmd == "RUN")
    for forbidden in ("apt-get install", "gcc", "build-essential", "pip install"):
        assert forbidden not in runtime_runs
    copies = [c for c in runtime if c.cmd == "COPY"]
    assert copies and all(any(f.startswith("--from=") for f in c.flags) for c in copies)
    for command in instructions():
        if command.cmd in ("ENV", "ARG", "LABEL"):
            text = " ".join(command.value).upper()
            assert not any(word in text for word in ("PASSWORD", "SECRET", "TOKEN", "AMQP_URL"))
    # pip and setuptools are removed from the virtualenv the runtime stage copies.
    assert "pip uninstall --yes pip setuptools" in " ".join(
        " ".join(c.value) for c in stages()[0] if c.cmd == "RUN"
    )


def test_entrypoint_is_the_projects_console_script_and_defaults_to_the_whole_system() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert dockerfile_entrypoint() == ["interplay"] and "interplay" in scripts
    (cmd,) = [c for c in instructions() if c.cmd == "CMD"]
    assert cmd.json and list(cmd.value) == ["run", "--all"]


def healthcheck_command() -> list[str]:
    (healthcheck,) = [c for c in instructions() if c.cmd == "HEALTHCHECK"]
    assert healthcheck.value[0] == "CMD" and healthcheck.json
    return list(healthcheck.value[1:])


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    handler = type("Handler", (_Health,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()


def run_healthcheck(port: int | None) -> int:
    command = healthcheck_command()
    assert command[0] == "python"
    environment = {"PATH": os.environ["PATH"]}
    if port is not None:
        environment["INTERPLAY_METRICS_PORT"] = str(port)
    return subprocess.run(
        [sys.executable, *command[1:]],
        env=environment,
        timeout=10,
        capture_output=True,
        check=False,
    ).returncode


def test_healthcheck_passes_on_200_from_healthz_on_the_configured_port(
    health_server: tuple[int, type[_Health]],
) -> None:
    port, handler = health_server
    assert run_healthcheck(port) == 0
    handler.status = 503
    assert run_healthcheck(port) != 0
    assert run_healthcheck(free_port()) != 0  # nothing listening


def test_healthcheck_defaults_to_port_9464() -> None:
    assert "'9464'" in " ".join(healthcheck_command())


def build_context(destination: Path) -> list[str]:
    """The files `docker build` would send, chosen by .dockerignore with docker-py's rules."""
    build = module("docker.utils.build")
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    included = sorted(build.exclude_paths(str(REPO), patterns))
    for relative in included:
        source = REPO / relative
        if source.is_file():
            (destination / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / relative)
    return included


def test_dockerignore_sends_only_what_the_image_needs(tmp_path: Path) -> None:
    included = build_context(tmp_path)
    # docker always sends .dockerignore itself; it never reaches the image (no COPY of it).
    tops = {path.split("/")[0] for path in included} - {".dockerignore"}
    assert [path for path in included if path.startswith("deploy")] == ["deploy/constraints.txt"]
    assert tops - {"deploy"} <= {
        "pyproject.toml",
        "README.md",
        "messaging",
        "orchestrators",
        "domains",
        "interplay",
    }
    assert not any("__pycache__" in path or path.endswith(".pyc") for path in included)
    for command in instructions():
        if command.cmd == "COPY" and not command.flags:
            for source in command.value[:-1]:
                assert (tmp_path / source).exists(), f"COPY {source}: not in the build context"


def test_the_build_context_installs_as_the_interplay_package(tmp_path: Path) -> None:
    context = tmp_path / "context"
    build_context(context)
    if not (context / "README.md").exists():
        pytest.fail(
            "README.md is missing: pyproject.toml names it, `pip install .` in the image would fail"
        )
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", wheels, context)
    (wheel,) = wheels.glob("interplay-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("messaging", "orchestrators", "domains", "interplay"):
        assert f"{package}/__init__.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "interplay = interplay.cli:app" in zipfile.ZipFile(wheel).read(entry_points).decode()
    # The image installs the uvloop extra (INTERPLAY_EVENT_LOOP=uvloop) and the otel one (spans
    # sent when OTEL_* asks); pip only warns about an extra that does not exist, so the names are
    # checked against the package's own metadata.
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    provided = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Provides-Extra: uvloop" in provided and "Provides-Extra: otel" in provided
    installs = [
        " ".join(c.value) for c in stages()[0] if c.cmd == "RUN" and "pip install" in c.value[0]
    ]
    assert installs and all('".[uvloop,otel]"' in install for install in installs)
