"""Request parsers: DRF's, with every malformed body a 400."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing what it would let through to fail later as a 500.

    * JSON nested past Python's recursion limit (``[[[[…]]]]`` a few thousand deep): DRF turns
      the decoder's ``ValueError`` into a ``ParseError`` but lets ``RecursionError`` escape.
    * A lone surrogate (``"\\ud800"``) is valid JSON but no text: it cannot be encoded to UTF-8
      for the database, a cache key or the response that echoes it.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
        if _has_lone_surrogate(data):
            raise ParseError("JSON parse error - a string holds a lone surrogate (not text).")
        return data


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
