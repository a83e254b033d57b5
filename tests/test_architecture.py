"""The shape the code keeps (README, Architecture): no import circle between modules, the
values core at the bottom, and one unit of work per request — nothing but the unit of work,
CLI commands and jobs commits."""

from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "blocklist"


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: pathlib.Path, modules: dict[str, pathlib.Path]) -> set[str]:
    """Modules of the package that `name` imports anywhere in its text (functions included);
    `from . import x` is an import of the module x, not of the package."""
    parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            targets = [t for t in (f"{base}.{alias.name}" for alias in node.names) if t in modules] or [base]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_no_import_circle_between_modules():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycles(graph) == []


def test_lower_layers_never_import_routes_clis_or_jobs():
    modules = _modules()
    top = {name for name in modules if name.rsplit(".", 1)[-1] in ("routes", "cli", "sweeper")}
    for name, path in modules.items():
        if name in top or name.count(".") < 2:  # the top layer, and packages wiring themselves up
            continue
        assert not (_imports(name, path, modules) & top), f"{name} imports a route, CLI or job"


def test_only_the_unit_of_work_clis_and_jobs_commit():
    allowed = {"db.py", "cli.py", "sweeper.py"}
    for path in PACKAGE.rglob("*.py"):
        if path.name in allowed:
            continue
        assert not re.search(r"session\.commit\(\)", path.read_text()), f"{path.relative_to(ROOT)} commits"


def test_settings_are_read_from_the_settings_object_only():
    """The service's own settings come from `blocklist.config.Settings`: no other module of the
    server reads BLOCKLIST_* variables or looks a setting up in `app.config` by string key (the
    sync client, a separate program, reads its own environment)."""
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "sync" or path.name == "config.py":
            continue
        text = path.read_text()
        assert not re.search(r"os\.environ(\.get)?\(?\[?[\"']BLOCKLIST_", text), f"{relative} reads the environment"
        assert not re.search(r"\.config(\.get\(|\[)[\"'][A-Z_]+[\"']", text), f"{relative} reads app.config"


def test_the_service_tells_the_time_by_its_one_clock():
    """Every "what time is it" goes through `db.utcnow()` (blocklist/clock.py), so a test can move
    time forward instead of sleeping; the rate limiter's Retry-After follows the limits library's
    own wall clock, and intervals use time.monotonic()."""
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "sync" or path.name in ("clock.py", "ratelimit.py"):
            continue
        text = path.read_text()
        assert not re.search(r"datetime\.(now|utcnow|today)\(|time\.time\(\)", text), f"{relative} reads the wall clock"


# What the sync client may import: it runs on a carrier's host without the server's stack.
SYNC_THIRD_PARTY = {"requests", "tenacity", "tqdm", "cryptography"}  # cryptography: the witness (rfc9162.py)


def test_the_sync_client_imports_only_the_pure_values_core():
    """blocklist.sync imports blocklist.values and blocklist.matcher (the shared matching rules)
    and itself, never the server's modules (Flask, the database layer, services), and of third-party libraries only
    SYNC_THIRD_PARTY besides the standard library."""
    import sys

    modules = _modules()
    for name, path in modules.items():
        if not name.startswith("blocklist.sync"):
            continue
        inside = _imports(name, path, modules)
        assert all(m.startswith(("blocklist.values", "blocklist.matcher", "blocklist.sync")) for m in inside), (
            name,
            inside,
        )
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                tops = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = {node.module.split(".")[0]}
            else:
                continue
            outside = tops - SYNC_THIRD_PARTY - set(sys.stdlib_module_names) - {"__future__"}
            assert not outside, f"{name} imports {outside}"


def test_the_sync_client_starts_without_the_server_stack():
    """What the sync client loads when it runs (the package's __init__ included): no Flask,
    SQLAlchemy or flask-smorest, so a carrier's host pays for none of them on each command."""
    import subprocess
    import sys

    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, blocklist.sync.cli; print(' '.join(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.split()
    assert not {"flask", "sqlalchemy", "flask_smorest", "flask_sqlalchemy"} & set(loaded)


def test_the_matcher_library_needs_no_flask_and_no_database():
    """blocklist.matcher (look-ups and checks in memory, shared by the server and the sync
    client) imports only the values core, itself, pyahocorasick and the standard library; and it
    reads no clock (callers pass `now`)."""
    import sys

    modules = _modules()
    names = [name for name in modules if name.startswith("blocklist.matcher")]
    assert len(names) >= 5
    for name in names:
        path = modules[name]
        inside = _imports(name, path, modules)
        assert all(m.startswith(("blocklist.values", "blocklist.matcher")) for m in inside), (name, inside)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                tops = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = {node.module.split(".")[0]}
            else:
                continue
            outside = tops - {"ahocorasick"} - set(sys.stdlib_module_names) - {"__future__"}
            assert not outside, f"{name} imports {outside}"
        assert not re.search(r"\.(now|utcnow|today)\(|time\.time\(\)", path.read_text()), f"{name} reads a clock"
