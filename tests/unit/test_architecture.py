"""The tree keeps its shape: dependencies point one way (the import contracts in pyproject.toml), no module
grows past what one reader holds in mind, and an import deferred into a function says why."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("smartcity", "market", "community", "gateway", "accounts", "webkit", "messaging", "relational", "config",
            "devices")
MAX_LINES = 800


def _modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
                  if "migrations" not in path.parts)


def test_the_import_contracts_are_kept() -> None:
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_module_is_longer_than_a_reader_can_hold() -> None:
    long = {str(path.relative_to(ROOT)): count for path in _modules()
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_an_import_inside_a_function_says_why() -> None:
    unexplained = []
    for path in _modules():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for function in ast.walk(ast.parse(source)):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom) and "#" not in lines[node.lineno - 1]:
                    unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert unexplained == []


def test_the_gateway_imports_no_domain_service() -> None:
    for path in (ROOT / "gateway").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] not in ("market", "community", "smartcity"), path
            if isinstance(node, ast.Import):
                assert all(alias.name.split(".")[0] not in ("market", "community", "smartcity")
                           for alias in node.names), path


def test_tests_use_no_private_name_of_the_code() -> None:
    """A test that reaches into a private name tests an implementation, and breaks when it is rearranged."""
    reached = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
                reached += [f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name}" for alias in node.names
                            if alias.name.startswith("_")]
            elif (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                  and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                reached.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
    assert reached == []
