"""Request parsers: DRF's, with every malformed body a 400."""

import codecs
import io
import re

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# A JSON text can hold a surrogate only as a \uD800-\uDFFF escape: UTF-8 decoding refuses an
# encoded one. Without such an escape in the raw body there is nothing to look for.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing what it would let through to fail later as a 500.

    * JSON nested past Python's recursion limit (``[[[[…]]]]`` a few thousand deep): DRF turns
      the decoder's ``ValueError`` into a ``ParseError`` but lets ``RecursionError`` escape.
    * A lone surrogate (``"\\ud800"``) is valid JSON but no text: it cannot be encoded to UTF-8
      for the database, a cache key or the response that echoes it.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
        # The walk visits every value of the body; the raw scan first spares it on the bodies
        # that cannot need it, which is nearly all of them (a megabyte of grants: SPEC §9).
        if _may_hold_surrogate(raw, parser_context) and _has_lone_surrogate(data):
            raise ParseError("JSON parse error - a string holds a lone surrogate (not text).")
        return data


def _may_hold_surrogate(raw: bytes, parser_context) -> bool:
    request = (parser_context or {}).get("request")
    encoding = getattr(request, "encoding", None) or settings.DEFAULT_CHARSET
    try:
        utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        utf8 = False
    return not utf8 or _SURROGATE_ESCAPE.search(raw) is not None


def _has_lone_surrogate(data) -> bool:
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False
