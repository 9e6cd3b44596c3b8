"""Show a new key once, on a page of its own, after a redirect (POST/redirect/GET, SPEC §13).

The answer to the POST that makes a key is a 303 to ``/keys/<id>/reveal``; the GET there shows
the key and forgets it, so a reload shows it gone and never makes a second key. Between the
two requests the raw key is split in two halves that are each useless alone: the session holds
it encrypted (Fernet), and a cookie scoped to that one URL, HttpOnly and ten minutes long,
holds the one-off encryption key. The session lives in the database and the cache
(``accounts.sessions``), so neither store nor log ever holds the key itself; the first read
deletes both halves.
"""

from cryptography.fernet import Fernet, InvalidToken

SESSION_KEY = "key_reveal"
COOKIE_NAME = "kw_reveal"
LIFETIME_SECONDS = 600


def reveal_path(key_id) -> str:
    return f"/keys/{key_id}/reveal"


def reveal_stash(request, response, *, key_id, raw_key: str, rotated_from_id=None) -> None:
    """Keep ``raw_key`` for one read of its reveal page; ``response`` carries the cookie half."""
    secret = Fernet.generate_key()
    request.session[SESSION_KEY] = {
        "key_id": str(key_id),
        "token": Fernet(secret).encrypt(raw_key.encode()).decode(),
        "rotated_from": str(rotated_from_id) if rotated_from_id else None,
    }
    response.set_cookie(
        COOKIE_NAME,
        secret.decode(),
        max_age=LIFETIME_SECONDS,
        path=reveal_path(key_id),
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )


def reveal_take(request, *, key_id) -> tuple[str, str | None] | None:
    """``(raw_key, rotated_from_id)`` the first time the key's page is read; then ``None``."""
    stash = request.session.get(SESSION_KEY)
    if not stash or stash.get("key_id") != str(key_id):
        return None
    del request.session[SESSION_KEY]  # one read, whatever follows
    secret = request.COOKIES.get(COOKIE_NAME)
    if not secret:
        return None
    try:
        raw_key = Fernet(secret.encode()).decrypt(stash["token"].encode(), ttl=LIFETIME_SECONDS)
    except (InvalidToken, ValueError):
        return None
    return raw_key.decode(), stash.get("rotated_from")


def reveal_forget_cookie(response, *, key_id) -> None:
    response.delete_cookie(COOKIE_NAME, path=reveal_path(key_id), samesite="Lax")
