"""The areas of `providers/` import only the areas below them (docs/architecture.md), and no module imports
`requests` but the transport."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "providers"

# area -> the areas it may import (besides itself). `models` is the app's data, part of the shared core.
ALLOWED = {
    "huggingface": set(),
    "core": {"huggingface", "models"},
    "models": {"core", "huggingface"},
    "accounts": {"core", "models"},
    "playground": {"core", "models", "huggingface"},
    "api": {"core", "models", "huggingface"},
    "settings_screen": {"core", "models", "huggingface", "playground"},
}
WIRING = {"urls", "apps", "management", "templatetags", "migrations", "sqlite3"}


def _area(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "providers" else None


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "providers":
                yield from (f"providers.{alias.name}" for alias in node.names)
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        yield path, module, _area(module)


def test_every_module_belongs_to_a_known_area():
    unknown = {area for _path, _module, area in _modules() if area not in ALLOWED and area not in WIRING}
    assert unknown <= {"__init__"}, f"modules outside the documented areas: {sorted(unknown)}"


def test_no_area_imports_one_it_may_not():
    wrong = []
    for path, module, area in _modules():
        if area not in ALLOWED:
            continue
        for target in _imports(path):
            other = _area(target)
            if other and other != area and other not in ALLOWED[area]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_only_the_transport_imports_an_http_client():
    importers = sorted(
        module
        for path, module, _area in _modules()
        if any(target.split(".")[0] in ("requests", "urllib3", "httpx") for target in _imports(path))
    )
    assert importers == ["providers.huggingface.transport"]


def test_no_product_module_is_much_over_500_lines():
    long = {
        module: n
        for path, module, _area in _modules()
        if "migrations" not in module and (n := len(path.read_text().splitlines())) > 550
    }
    assert not long, long
