"""Which speed tricks are on: the library version each was written against, and the off switch.

A trick reaches into a library's internals, which a release may change without notice. Each
one is switched on once, at import, only when the installed library is exactly the version it
was written against (the one pinned in ``requirements.txt``); any other version, or the
operator's ``KEYWARD_FASTPATH_DISABLE=name,name`` (``all`` for every one), gets the public API.
"""

import logging
import os
import platform
from importlib import metadata

logger = logging.getLogger("core.fastpath")

DISABLE_VARIABLE = "KEYWARD_FASTPATH_DISABLE"

# trick -> (distribution, the version it was written against); filled in as the tricks import.
WRITTEN_AGAINST: dict[str, tuple[str, str]] = {}


def _disabled_by_operator() -> frozenset[str]:
    names = os.environ.get(DISABLE_VARIABLE, "").split(",")
    return frozenset(name.strip() for name in names if name.strip())


DISABLED = _disabled_by_operator()


def installed_version(distribution: str) -> str | None:
    """The installed version; ``CPython`` is the interpreter's ``major.minor``."""
    if distribution == "CPython":
        if platform.python_implementation() != "CPython":
            return None
        return ".".join(platform.python_version_tuple()[:2])
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def trick_enabled(name: str, distribution: str, version: str) -> bool:
    """Whether the trick ``name`` runs in this process; decided once, when its module imports."""
    WRITTEN_AGAINST[name] = (distribution, version)
    if name in DISABLED or "all" in DISABLED:
        logger.info("fast path %s off (%s); using the public API", name, DISABLE_VARIABLE)
        return False
    return _is_installed(name, distribution, version, "off; using the public API")


def written_against(name: str, distribution: str, version: str) -> bool:
    """Record a reach into ``distribution`` that has no public way round; say so if unchecked."""
    WRITTEN_AGAINST[name] = (distribution, version)
    return _is_installed(name, distribution, version, "applied, unchecked on this version")


def _is_installed(name: str, distribution: str, version: str, consequence: str) -> bool:
    installed = installed_version(distribution)
    if installed != version:
        logger.info(
            "fast path %s %s: written against %s %s, %s installed",
            name,
            consequence,
            distribution,
            version,
            installed,
        )
        return False
    return True
