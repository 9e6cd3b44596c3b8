"""Show a new secret once, on a page of its own, after a redirect (POST/redirect/GET, SPEC §13).

The answer to the POST that makes a key (or a service client's secret) is a 303 to its reveal
page; the GET there shows the secret and forgets it, so a reload shows it gone and never makes
a second one. Between the two requests the secret is split in two halves that are each useless
alone: the session holds it encrypted (Fernet), and a cookie scoped to that one URL, HttpOnly
and ten minutes long, holds the one-off encryption key. The session lives in the database and
the cache (``accounts.sessions``), so neither store nor any log ever holds the secret itself;
the first read deletes both halves.
"""

from cryptography.fernet import Fernet, InvalidToken

SESSION_KEY = "secret_reveal"
COOKIE_NAME = "kw_reveal"
LIFETIME_SECONDS = 600


def reveal_stash(request, response, *, path: str, secret: str, extra: str | None = None) -> None:
    """Keep ``secret`` for one read of the page at ``path``; ``response`` carries the cookie."""
    cookie_key = Fernet.generate_key()
    request.session[SESSION_KEY] = {
        "path": path,
        "token": Fernet(cookie_key).encrypt(secret.encode()).decode(),
        "extra": extra,
    }
    response.set_cookie(
        COOKIE_NAME,
        cookie_key.decode(),
        max_age=LIFETIME_SECONDS,
        path=path,
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )


def reveal_take(request, *, path: str) -> tuple[str, str | None] | None:
    """``(secret, extra)`` the first time the page at ``path`` is read; then ``None``."""
    stash = request.session.get(SESSION_KEY)
    if not isinstance(stash, dict) or stash.get("path") != path:
        return None
    del request.session[SESSION_KEY]  # one read, whatever follows
    cookie_key = request.COOKIES.get(COOKIE_NAME)
    if not cookie_key:
        return None
    try:
        secret = Fernet(cookie_key.encode()).decrypt(stash["token"].encode(), ttl=LIFETIME_SECONDS)
    except (InvalidToken, ValueError, TypeError):
        return None
    return secret.decode(), stash.get("extra")


def reveal_forget_cookie(response, *, path: str) -> None:
    response.delete_cookie(COOKIE_NAME, path=path, samesite="Lax")
