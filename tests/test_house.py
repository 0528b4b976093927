"""The house rules a test can check: no module over MAX_LINES lines, no layer importing from one above it."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400
# fixtures' layers from the bottom (docs/layout.md); a module imports only from its own layer or those below
LAYERS = ("data", "uploads", "processes", "run", "report", "versions", "history", "docs_figures")


def modules(*folders) -> list:
    return sorted(
        p
        for folder in folders
        for p in (ROOT / folder).rglob("*.py")
        if "data" not in p.relative_to(ROOT).parts[:2] or folder == "fixtures"
    )


@pytest.mark.parametrize("path", modules("fixtures", "server_app", "tests"), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_the_limit(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def imported_layers(path: Path) -> set:
    """The layers of fixtures/ a module imports from (absolute or relative imports)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                package = path.relative_to(ROOT / "fixtures").parent.parts
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                parts = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.startswith("fixtures."):
                parts = node.module.split(".")[1:]
            else:
                continue
            names = [parts[0]] if parts else [alias.name for alias in node.names]
            found.update(name for name in names if name in LAYERS)
    return found


def test_the_import_check_sees_relative_and_absolute_imports():
    assert imported_layers(ROOT / "fixtures" / "history" / "points.py") >= {"data", "report", "run"}
    assert "run" in imported_layers(ROOT / "fixtures" / "report" / "duet.py")


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_nothing_above_it(layer):
    above = set(LAYERS[LAYERS.index(layer) + 1 :])
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_layers(path) & above)
        for path in sorted((ROOT / "fixtures" / layer).rglob("*.py"))
        if imported_layers(path) & above
    }
    assert offenders == {}


def test_server_app_imports_nothing_of_fixtures():
    for path in sorted((ROOT / "server_app").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [n for n in names if n == "fixtures" or n.startswith("fixtures.")], path
