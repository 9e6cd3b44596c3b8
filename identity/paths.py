"""Request paths as Keyward judges them (SPEC §9): one normal form, or refused.

A grant admits ``/api/v1/orders`` and below; the service behind the proxy resolves
``/api/v1/orders/../admin`` to ``/api/v1/admin``. Judging the raw string would admit a request
the upstream serves somewhere else, so every path Keyward judges (``auth/check``'s
``X-Original-URI``, ``keys/verify``'s ``path``, endpoint grants as they are saved and matched)
goes through ``normalise_path`` first. A path whose meaning could differ between servers is
refused rather than guessed at.
"""

import re
import unicodedata

__all__ = ["InvalidPath", "normalise_path"]


class InvalidPath(ValueError):
    """A path Keyward refuses to judge; the message says why, never repeating the path."""

    code = "invalid_path"


# RFC 3986 §2.3: the only characters whose percent-encoding means the same as the character.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset("0123456789ABCDEFabcdef")

# A path with none of these is already in normal form: the fast path of the hot endpoints.
# Anything outside unreserved, sub-delims, ":@" and "/", an empty segment, a "." segment, or
# ".." anywhere sends it through the full normalisation.
_NEEDS_WORK = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/]|//|\.\.|/\.(?:/|$)")

# Characters an upstream may fold into path syntax by Unicode compatibility (NFKC): fullwidth
# "\uff0e\uff0e\uff0f" becomes "../" on such a server, so a character that folds so is refused.
_STRUCTURAL = "./\\%?#;"
_REFUSED_ASCII = re.compile(r"[\x00-\x20\x7f\\]")
# Control, format (zero-width, bidi marks: invisible in a log or a grant list) and lone
# surrogates (no UTF-8 form).
_HIDDEN = frozenset({"Cc", "Cf", "Cs"})


def normalise_path(raw: str) -> str:
    """The normal form of the request path ``raw``; raise ``InvalidPath`` if it is refused.

    In order: drop the query and fragment; refuse a path that does not start with ``/`` or
    holds a control character, whitespace or a backslash; percent-encode raw non-ASCII
    characters as UTF-8 (an IRI path and its URI form are one path); decode the
    percent-encodings of unreserved characters (``%2e`` → ``.``, ``%7E`` → ``~``) and upper-case
    the others, refusing an encoded slash, backslash or control character, a malformed ``%``
    and overlong UTF-8 (``%C0%AE`` is "." to a lax decoder); remove dot segments (RFC 3986
    §5.2.4) and collapse ``//`` runs; refuse what still holds ``..`` (``..;`` is ".." to
    Tomcat-style servers). The result is idempotent: ``normalise_path(p) == p`` for any
    result ``p``. Paths are case-sensitive (RFC 3986 §6.2.2.1): ``/Orders`` is not ``/orders``.
    """
    if "?" in raw:  # nginx's $request_uri carries the query: keep such a path on the fast path
        raw = raw.partition("?")[0]
    if raw[:1] == "/" and _NEEDS_WORK.search(raw) is None:
        return raw
    path = _without_query(raw)
    if path[:1] != "/":
        raise InvalidPath("The path must start with /.")
    if not path.isascii():
        path = _ascii(path)
    path = _decode_unreserved(path)
    path = _remove_dot_segments(path)
    if ".." in path:
        raise InvalidPath("The path holds '..' that is not a whole segment.")
    return path


def _without_query(raw: str) -> str:
    end = len(raw)
    for mark in "?#":
        at = raw.find(mark, 0, end)
        if at != -1:
            end = at
    path = raw[:end]
    if path.isascii():
        found = _REFUSED_ASCII.search(path)
        if found is not None:
            _refuse_character(found.group())
    else:
        for character in path:
            if (
                character == "\\"
                or character.isspace()
                or unicodedata.category(character) in _HIDDEN
            ):
                _refuse_character(character)
    return path


def _refuse_character(character: str):
    if character == "\\":
        raise InvalidPath("The path holds a backslash.")
    if character == "\x00":
        raise InvalidPath("The path holds a NUL character.")
    raise InvalidPath("The path holds a control, invisible or whitespace character.")


def _ascii(path: str) -> str:
    """Raw non-ASCII characters as their UTF-8 percent-encoding (RFC 3987 §3.1)."""
    folded = unicodedata.normalize("NFKC", path)
    if any(folded.count(mark) != path.count(mark) for mark in _STRUCTURAL):
        raise InvalidPath("The path holds a character that Unicode folds into / . \\ % ? # or ;.")
    return "".join(
        character
        if character.isascii()
        else "".join(f"%{byte:02X}" for byte in character.encode("utf-8"))
        for character in path
    )


def _decode_unreserved(path: str) -> str:
    if "%" not in path:
        return path
    head, *encoded = path.split("%")
    parts, previous = [head], 0
    for part in encoded:
        digits = part[:2]
        if len(digits) != 2 or not _HEX.issuperset(digits):
            raise InvalidPath("The path holds a % that is not followed by two hex digits.")
        byte = int(digits, 16)
        if byte == 0x2F:
            raise InvalidPath("The path holds an encoded slash (%2F).")
        if byte == 0x5C:
            raise InvalidPath("The path holds an encoded backslash (%5C).")
        if byte == 0:
            raise InvalidPath("The path holds an encoded NUL (%00).")
        if byte < 0x20 or byte == 0x7F:
            raise InvalidPath("The path holds an encoded control character.")
        if (
            byte in (0xC0, 0xC1)
            or (previous == 0xE0 and 0x80 <= byte < 0xA0)
            or (previous == 0xF0 and 0x80 <= byte < 0x90)
        ):
            raise InvalidPath("The path holds overlong UTF-8, which lax decoders misread.")
        character = chr(byte)
        parts.append(character if character in _UNRESERVED else f"%{digits.upper()}")
        parts.append(part[2:])
        previous = byte if not part[2:] else 0
    return "".join(parts)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path, then ``//`` runs collapsed.

    A ``..`` that would remove an empty segment (``/a//../b``) is refused: a server that merges
    slashes first resolves it to ``/b``, one that follows the RFC to ``/a/b``, and a grant for
    either would admit the other.
    """
    segments = path.split("/")[1:]
    kept: list[str] = []
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if kept and kept[-1] == "":
                raise InvalidPath("The path holds '..' after an empty segment ('//..').")
            if kept:
                kept.pop()
            continue
        kept.append(segment)
    trailing_slash = segments[-1] in ("", ".", "..")
    kept = [segment for segment in kept if segment]
    return "/" + "/".join(kept) + ("/" if trailing_slash and kept else "")
