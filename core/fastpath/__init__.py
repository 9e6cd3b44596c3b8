"""Every trick that reaches into a library's internals: version-guarded, each with an off switch.

Callers import from here only. Each module is one library's tricks; each trick is chosen once,
at import: the fast function when the installed library is the version the trick was written
against and ``KEYWARD_FASTPATH_DISABLE`` does not name it, the public API's otherwise
(``core.fastpath.guard``). What each one earns is measured in docs/performance.md.
"""

from core.fastpath.cors import cors_allows_nobody
from core.fastpath.django_internals import (
    defer_messages,
    messages_untouched,
    prepare_wsgi_headers,
    write_headers,
)
from core.fastpath.hashing import keyed_hmac_sha256
from core.fastpath.redis_reply import await_reply, script_runner
from core.fastpath.simplejwt import install_token_backend

__all__ = [
    "await_reply",
    "cors_allows_nobody",
    "defer_messages",
    "install_token_backend",
    "keyed_hmac_sha256",
    "messages_untouched",
    "prepare_wsgi_headers",
    "script_runner",
    "write_headers",
]
