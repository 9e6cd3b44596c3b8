"""Every trick that reaches into a library's internals: version-guarded, each with an off switch.

Callers import from here only. Each module is one library's tricks; each trick is chosen once,
at import: the fast function when the installed library is the version the trick was written
against and ``KEYWARD_FASTPATH_DISABLE`` does not name it, the public API's otherwise
(``core.fastpath.guard``). What each one earns is measured in docs/performance.md.
"""

from core.fastpath.redis_reply import await_reply, script_runner
from core.fastpath.simplejwt import install_token_backend

__all__ = ["await_reply", "install_token_backend", "script_runner"]
