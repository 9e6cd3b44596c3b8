"""Every reach into a library's internals, each checked against the version it was written for.

Callers import from here only. Each module is one library's; each trick is chosen once, at
import: the fast function when the installed library is the version the trick was written
against and ``KEYWARD_FASTPATH_DISABLE`` does not name it, the public API's otherwise
(``core.fastpath.guard``). What each one earns is measured in docs/performance.md; one that
earned under 3 % of a key request's throughput was removed.
"""

from core.fastpath.redis_reply import PublicScriptRunner, await_reply, script_runner
from core.fastpath.simplejwt import install_token_backend

__all__ = ["PublicScriptRunner", "await_reply", "install_token_backend", "script_runner"]
