"""Writes a planned domain into the project: its files, its line in the registry, ruff's layout.

The generated code and the registry are written plainly (imports in any order, calls on one
line) and then laid out by the project's own ruff, with its configuration: import sorting
(``ruff check --select I --fix``) and ``ruff format``. So the output is what ``make lint``
accepts by construction, and nothing here re-implements either.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from interplay.scaffold.code import render_domain
from interplay.scaffold.plan import DomainPlan, ScaffoldError

REGISTRY = Path("domains/registry.py")
DOMAIN_IMPORT = re.compile(r"^from domains\.(\w+)\.container import domain as \1$", re.M)
MEMBERS = re.compile(r"(domain\.name: domain\s+for domain in \()([^)]*)(\))")


def scaffold(root: Path, plan: DomainPlan) -> list[Path]:
    """Write the domain's files and its unit tests under ``root`` and register it there.

    Everything is checked before anything is written, so a refusal leaves the project as it was.
    """
    registry = root / REGISTRY
    if not registry.is_file():
        raise ScaffoldError(f"{registry} is missing: run new-domain from the project's root")
    folder = root / "domains" / plan.name
    if folder.exists():
        raise ScaffoldError(f"{folder} exists already")
    files = render_domain(plan)
    registered = register(registry.read_text(), plan.name)
    written = []
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    registry.write_text(registered)
    return [*written, registry]


def register(registry: str, name: str) -> str:
    """``domains/registry.py`` with ``name`` imported and last in ``DOMAINS``.

    The import goes after the other domains' and the name at the end of the tuple, on one line;
    ``tidy`` sorts the one and lays out the other.
    """
    imports = DOMAIN_IMPORT.findall(registry)
    members = MEMBERS.search(registry)
    if not imports or members is None:
        raise ScaffoldError(f"{REGISTRY} no longer looks as expected: register {name} by hand")
    names = [m.strip() for m in members.group(2).split(",") if m.strip()]
    registry = registry[: members.start(2)] + ", ".join([*names, name]) + registry[members.end(2) :]
    last = f"from domains.{imports[-1]}.container import domain as {imports[-1]}"
    return registry.replace(last, f"{last}\nfrom domains.{name}.container import domain as {name}")


def tidy(root: Path, paths: Sequence[Path]) -> bool:
    """Sort the imports of ``paths`` and format them with the project's ruff and configuration.

    False when there is no ruff to run: the files are then correct but not laid out. Ruff failing
    on them is a fault of the generator, raised with what ruff said.
    """
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        return False
    files = [str(path) for path in paths]
    for arguments in (["check", "--fix", "--select", "I", "--quiet"], ["format", "--quiet"]):
        done = subprocess.run([ruff, *arguments, *files], cwd=root, capture_output=True, text=True)
        if done.returncode != 0:
            raise ScaffoldError(f"ruff {arguments[0]} failed on the generated files: {done.stdout}")
    return True
