"""The values core is pure: no database, no Flask, nothing from the rest of the package."""

from __future__ import annotations

import ast
import pathlib

import pytest

VALUES = pathlib.Path(__file__).resolve().parents[2] / "blocklist" / "values"
FORBIDDEN = ("flask", "flask_smorest", "sqlalchemy", "blocklist", "werkzeug", "marshmallow")


@pytest.mark.parametrize("path", sorted(VALUES.glob("*.py")), ids=lambda p: p.name)
def test_a_values_module_imports_no_framework_and_nothing_above_it(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from .x import y: inside the values core
                continue
            assert node.level == 0, f"{path.name} imports from outside blocklist.values"
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
