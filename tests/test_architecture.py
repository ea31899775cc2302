"""The map of docs/architecture.md, enforced: floors, wings and what each may import.

Every import counts, including those inside functions (a cycle hidden in a function body is
still a cycle); only `if TYPE_CHECKING:` blocks are left out, since they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("idhub", "provisioning", "connectors")
MAX_LINES = 600

# The shell's rooms, bottom to top. A room may import its own floor and the floors below;
# wings import only the wings named in WING_DEPENDS; nothing below the roof imports it.
FLOORS: dict[str, frozenset[str]] = {
    "foundation": frozenset({"config", "errors", "keyring", "logs", "metrics", "db", "models"}),
    "floor": frozenset({"admin_scope", "changes", "services", "runtime", "web"}),
    "wing": frozenset(
        {
            "identity",
            "engine",
            "oidc",
            "reorg",
            "audit",
            "scheduler",
            "account",
            "events",
            "national",
            "admin",
            "console",
            "imports",
            "scim",
            "scimout",
        }
    ),
    "roof": frozenset({"idhub", "app", "cli", "wsgi", "ops", "migrations"}),
}
RANK = {room: rank for rank, rooms in enumerate(FLOORS.values()) for room in rooms}
WING_DEPENDS: dict[str, frozenset[str]] = {
    "identity": frozenset(),
    "audit": frozenset(),
    "engine": frozenset({"identity"}),
    "oidc": frozenset({"identity"}),
    "reorg": frozenset({"identity", "engine"}),
    "scheduler": frozenset({"identity", "engine", "reorg", "audit"}),
    "account": frozenset({"identity", "oidc"}),
    "events": frozenset({"identity", "engine", "oidc"}),
    "national": frozenset({"identity", "reorg", "engine"}),
    "admin": frozenset({"identity"}),
    "imports": frozenset({"identity"}),
    "console": frozenset(
        {"identity", "engine", "oidc", "reorg", "audit", "admin", "events", "national", "imports"}
    ),
    "scim": frozenset({"identity"}),
    # Outbound SCIM reuses the change events' projections and the `client` command group.
    "scimout": frozenset({"identity", "engine", "oidc", "events"}),
}
# The pure core may use the connectors' lowest floor: plain types and DN text helpers.
CORE_MAY_IMPORT = frozenset({"connectors.base", "connectors.dn"})


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations/versions" not in path.as_posix():
                yield path


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except the bodies of `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            test = child.test if isinstance(child, ast.If) else None
            if test is not None and "TYPE_CHECKING" in ast.unparse(test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imports_of(path: Path, known: set[str], name: str | None = None) -> set[str]:
    """The project modules a file imports (a `from package import submodule` counts as the
    submodule)."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m.split(".")[0] in PACKAGES and m != name}


def import_graph() -> dict[str, set[str]]:
    files = list(source_files())
    known = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, known) & known for p in files}


def room_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "idhub":
        return parts[0]
    return parts[1] if len(parts) > 1 else "idhub"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def room_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    rooms: dict[str, set[str]] = {}
    for module, targets in graph.items():
        edges = rooms.setdefault(room_of(module), set())
        edges.update(room_of(t) for t in targets if room_of(t) != room_of(module))
    return rooms


def broken_rules(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in sorted(graph.items()):
        here = room_of(module)
        for target in sorted(targets):
            there = room_of(target)
            why = _why_not(module, here, target, there)
            if why:
                problems.append(f"{module} imports {target}: {why}")
    return problems


def _why_not(module: str, here: str, target: str, there: str) -> str | None:
    if here == "connectors":
        return None if there == "connectors" else "connectors import nothing above them"
    if here == "provisioning":
        if there == "provisioning" or ".".join(target.split(".")[:2]) in CORE_MAY_IMPORT:
            return None
        return "the pure core imports only itself and the connectors' plain types"
    if there in ("provisioning", "connectors") or here == there:
        return None
    if here not in RANK or there not in RANK:
        return f"room {here if here not in RANK else there!r} is not on the map"
    if RANK[there] > RANK[here]:
        return f"{here} ({_floor(here)}) may not import {there} ({_floor(there)}): it is above"
    if here in WING_DEPENDS and there in WING_DEPENDS and there not in WING_DEPENDS[here]:
        return f"wing {here} may import only {sorted(WING_DEPENDS[here]) or 'no other wing'}"
    return None


def _floor(room: str) -> str:
    return next(floor for floor, rooms in FLOORS.items() if room in rooms)


def long_modules(paths: Iterable[Path]) -> list[str]:
    too_long = []
    for path in paths:
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > MAX_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {count} lines")
    return too_long


# -- the rules on the code ------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_no_import_cycle_between_modules(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_no_cycle_between_rooms(graph: dict[str, set[str]]) -> None:
    assert cycles(room_graph(graph)) == []


def test_every_import_follows_the_map(graph: dict[str, set[str]]) -> None:
    assert broken_rules(graph) == []


def test_every_room_is_on_the_map(graph: dict[str, set[str]]) -> None:
    unknown = {room_of(m) for m in graph} - set(RANK) - {"provisioning", "connectors"}
    assert unknown == set()


def test_no_module_over_600_lines() -> None:
    assert long_modules(source_files()) == []


def test_every_module_says_first_what_it_holds() -> None:
    silent = [
        str(path.relative_to(ROOT))
        for path in source_files()
        if ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]
    assert silent == []


# -- the checker itself catches what it is for ---------------------------------------------
def test_checker_finds_a_cycle_hidden_in_three_modules() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    ("module", "target", "rule"),
    [
        ("connectors.ldap", "idhub.db", "connectors import nothing"),
        ("provisioning.policy", "connectors.ldap", "pure core"),
        ("idhub.engine.worker", "idhub.reorg.changesets", "wing engine may import only"),
        ("idhub.identity.people", "idhub.oidc.credentials", "wing identity may import only"),
        ("idhub.db", "idhub.changes.outbox", "it is above"),
        ("idhub.web.common", "idhub.identity.people", "it is above"),
        ("idhub.engine.worker", "idhub.ops.signals", "it is above"),
    ],
)
def test_checker_refuses_a_climbing_import(module: str, target: str, rule: str) -> None:
    (problem,) = broken_rules({module: {target}, target: set()})
    assert rule in problem


def test_checker_reads_imports_inside_functions(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from idhub.ops import server\n"
        "def later():\n    from idhub.reorg import changesets\n",
        encoding="utf-8",
    )
    known = {"idhub.reorg.changesets", "idhub.ops.server"}
    assert imports_of(probe, known, "idhub.engine.probe") == {"idhub.reorg.changesets"}
