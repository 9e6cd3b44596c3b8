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


def trick_enabled(name: str, distribution: str, written_against: str) -> bool:
    """Whether the trick ``name`` runs in this process; decided once, when its module imports."""
    WRITTEN_AGAINST[name] = (distribution, written_against)
    if name in DISABLED or "all" in DISABLED:
        logger.info("fast path %s off (%s); using the public API", name, DISABLE_VARIABLE)
        return False
    installed = installed_version(distribution)
    if installed != written_against:
        logger.info(
            "fast path %s off: written against %s %s, %s installed; using the public API",
            name,
            distribution,
            written_against,
            installed,
        )
        return False
    return True
