"""The shape of the house, read from the source: small modules, no import cycle, imports that
point down only, and a shell whose top level holds the process and nothing else.

The imports are read with ``ast``, wherever they stand (a function-level import is still a
dependency); only an ``if TYPE_CHECKING:`` block is left out of the cycle check, since it never
runs. Each test reports every offender at once, so that one run says all there is to fix.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
LAYERS = ("messaging", "orchestrators", "domains", "interplay")  # each imports only those before
FIRST_PARTY = (*LAYERS, "benchmarks")
SMALL = ("interplay", "orchestrators", "messaging")
MAX_LINES = 300
BUSINESS_MODULES = ("events", "services", "workflow", "repository")  # plain Python (design §2)
INFRASTRUCTURE = ("aio_pika", "aiormq", "dependency_injector")
PROCESS_MODULES = {
    "__init__", "settings", "bootstrap", "runtime", "supervisor", "health", "logs", "event_loop",
    "telemetry",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's target, as the module that holds it names it."""

    module: str  # the importing module
    target: str  # the imported module, or the package of an imported name
    line: int
    type_checking: bool  # inside ``if TYPE_CHECKING:``: never runs


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    """Every first-party module, by dotted name."""
    return {
        module_name(path): path
        for top in FIRST_PARTY
        for path in sorted((ROOT / top).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


MODULES = sources()


def imports_of(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    yield from _walk(tree, module, package, type_checking=False)


def _walk(node: ast.AST, module: str, package: str, *, type_checking: bool) -> Iterator[Import]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for statement in child.body:
                yield from _walk_statement(statement, module, package, type_checking=True)
            for statement in child.orelse:
                yield from _walk_statement(statement, module, package, type_checking=type_checking)
            continue
        yield from _walk_statement(child, module, package, type_checking=type_checking)


def _walk_statement(
    node: ast.AST, module: str, package: str, *, type_checking: bool
) -> Iterator[Import]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield Import(module, alias.name, node.lineno, type_checking)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: from the package, one level up per extra dot
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            yield Import(
                module, submodule if submodule in MODULES else base, node.lineno, type_checking
            )
    else:
        yield from _walk(node, module, package, type_checking=type_checking)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


IMPORTS = [found for module, path in MODULES.items() for found in imports_of(module, path)]


def first_party(target: str) -> str | None:
    """The first-party module ``target`` names (its longest known prefix), if it is one."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in MODULES:
            return ".".join(parts[:end])
    return None


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for found in IMPORTS:
        target = first_party(found.target)
        if target is not None and target != found.module and not found.type_checking:
            graph[found.module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def a_cycle_through(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One path round ``component``, to show in a failure: ``a -> b -> a``."""
    members, start = set(component), component[0]
    path, seen = [start], {start}
    while True:
        following = sorted(graph[path[-1]] & members)
        back = start if start in following else None
        if back is not None and len(path) > 1:
            return [*path, start]
        unseen = [target for target in following if target not in seen]
        if not unseen:  # every step of the component was seen: close the loop where it meets
            target = following[0]
            return [*path[path.index(target) :], target]
        path.append(unseen[0])
        seen.add(unseen[0])


def test_no_module_of_the_framework_or_the_shell_is_over_300_lines() -> None:
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for module, path in MODULES.items()
        if module.split(".")[0] in SMALL
    }
    too_long = {path: lines for path, lines in lengths.items() if lines > MAX_LINES}

    assert too_long == {}, f"over {MAX_LINES} lines, split by job: {too_long}"


def test_no_first_party_modules_import_each_other_in_a_cycle() -> None:
    graph = import_graph()
    loops = [" -> ".join(a_cycle_through(c, graph)) for c in cycles(graph)]

    assert loops == [], "import cycles:\n  " + "\n  ".join(loops)


def test_imports_point_down_only_from_interplay_to_domains_to_orchestrators_to_messaging() -> None:
    upward = []
    for found in IMPORTS:
        layer, target = found.module.split(".")[0], found.target.split(".")[0]
        if layer in LAYERS and target in LAYERS and LAYERS.index(target) > LAYERS.index(layer):
            upward.append(f"{MODULES[found.module].relative_to(ROOT)}:{found.line} {found.target}")

    assert upward == [], "imports that point up a layer:\n  " + "\n  ".join(upward)


def test_a_domains_business_code_imports_no_broker_client_and_no_container() -> None:
    offenders = [
        f"{MODULES[found.module].relative_to(ROOT)}:{found.line} {found.target}"
        for found in IMPORTS
        if found.module.startswith("domains.")
        and found.module.split(".")[-1] in BUSINESS_MODULES
        and found.target.split(".")[0] in INFRASTRUCTURE
    ]

    assert offenders == [], "business code importing infrastructure:\n  " + "\n  ".join(offenders)


def test_interplays_top_level_holds_only_the_process_modules_and_tool_packages() -> None:
    shell = ROOT / "interplay"
    strays = sorted(
        path.name
        for path in shell.iterdir()
        if (path.suffix == ".py" and path.stem not in PROCESS_MODULES)
        or (path.is_dir() and path.name != "__pycache__" and not (path / "__init__.py").is_file())
    )

    assert strays == [], f"interplay/ should hold the process and tool packages only: {strays}"


def test_every_process_module_is_at_interplays_top_level() -> None:
    present = {path.stem for path in (ROOT / "interplay").glob("*.py")}

    assert PROCESS_MODULES - present == set()
