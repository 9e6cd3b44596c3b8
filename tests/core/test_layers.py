"""One dependency direction (docs/architecture.md, "Layers"), read from the imports themselves.

Every ``import`` in the project's own modules counts, including the lazy ones inside functions:
a lazy import hides a cycle from Python, not from a reader. Layers, highest first:

5. ``config``: settings, root URLs, WSGI;
4. edges: the modules that speak a framework's language — views and pages, API views
   (``api``, ``*_api``), serializers, forms, admin, URLs, DRF authentication, permission and
   throttle classes, signal receivers, schema helpers, system checks, app configs, management
   commands — and the ``ops`` app;
3. domain: ``accounts``, ``apikeys``, ``tenants``, ``oauth``, ``agents`` (their services,
   selectors, models, rules), in the order ``DOMAIN_ORDER`` names: each imports only those after it;
2. ``identity``: principals' limits and buckets, ``authorize``, the escalation rule, paths;
1. ``audit`` and ``metering``, beside ``core``: they import ``core`` only;
0. ``core``: imports nothing of the project.

A module may import its own app and any lower layer. ``KNOWN_DEBTS`` lists the imports that
still point the wrong way, each with what would fix it; the test fails on any other, and on an
entry that no longer exists (so the list only ever shrinks).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "config",
    "core",
    "identity",
    "accounts",
    "apikeys",
    "tenants",
    "oauth",
    "agents",
    "audit",
    "metering",
    "ops",
    "notifications",
)
DOMAIN_ORDER = (
    "agents",
    "notifications",
    "oauth",
    "accounts",
    "apikeys",
    "tenants",
)  # each imports only later ones
EDGE_MODULES = frozenset(
    {
        "admin",
        "admin_forms",
        "admin_login",
        "api",
        "api_urls",
        "apps",
        "authentication",
        "checks",
        "forms",
        "management",
        "pages",
        "permissions",
        "receivers",
        "schema",
        "serializers",
        "templatetags",
        "throttles",
        "urls",
        "views",
        "wellknown",
    }
)
EDGE_APPS = frozenset({"ops"})

# Each import that points the wrong way, with what would fix it; none is left. A new one goes
# here only with its reason and its fix, and the list only ever shrinks.
KNOWN_DEBTS: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(dotted: str) -> str:
    """The longest prefix of ``dotted`` that is one of the project's modules."""
    parts = dotted.split(".")
    while parts:
        path = ROOT.joinpath(*parts)
        if path.with_suffix(".py").exists() or (path / "__init__.py").exists():
            return ".".join(parts)
        parts.pop()
    return dotted.split(".")[0]


def project_imports():
    """(importer, imported) for every import of one app's module by another app's."""
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            importer = _module_name(path)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [f"{node.module}.{alias.name}" for alias in node.names]
                else:
                    continue
                for name in names:
                    if name.split(".")[0] in APPS and name.split(".")[0] != app:
                        yield importer, _resolve(name)


def is_edge(parts: list[str]) -> bool:
    return any(part in EDGE_MODULES or part.endswith(("_api", "_urls")) for part in parts[1:])


def layer(module: str) -> int:
    parts = module.split(".")
    app = parts[0]
    if app == "config":
        return 5
    if app == "core":
        return 0  # core's views and forms are the bases every edge builds on
    if app in EDGE_APPS or is_edge(parts):
        return 4
    if app in DOMAIN_ORDER:
        return 3
    if app == "identity":
        return 2
    if app in ("audit", "metering"):
        return 1
    return 0


def points_the_wrong_way(importer: str, imported: str) -> bool:
    low, high = layer(importer), layer(imported)
    if high > low:
        return True
    if low == high == 1:  # audit and metering stand beside each other, not on each other
        return True
    if low == high == 3 and imported.split(".")[0] in DOMAIN_ORDER:
        importer_app = importer.split(".")[0]
        if importer_app in DOMAIN_ORDER:
            order = DOMAIN_ORDER.index
            return order(imported.split(".")[0]) < order(importer_app)
    return False


WRONG_WAY = sorted({pair for pair in project_imports() if points_the_wrong_way(*pair)})


def test_imports_point_down_the_layers():
    assert [pair for pair in WRONG_WAY if pair not in KNOWN_DEBTS] == []


def test_every_known_debt_still_exists():
    assert sorted(KNOWN_DEBTS - set(WRONG_WAY)) == []


@pytest.mark.parametrize(
    ("importer", "imported", "wrong"),
    [
        ("core.errors", "apikeys.models", True),
        ("metering.meter", "audit.services", True),
        ("identity.policy", "metering.meter", False),
        ("tenants.resolution", "identity.authorize", False),
        ("tenants.selectors", "apikeys.models", True),
        ("apikeys.services", "tenants.models", False),
        ("apikeys.api", "oauth.services", False),
        ("ops.api", "config", True),
    ],
)
def test_the_rule_itself(importer, imported, wrong):
    assert points_the_wrong_way(importer, imported) is wrong
