"""Request parsers: DRF's, with every malformed body a 400."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; JSON nested past Python's recursion limit is a 400, not a 500.

    DRF turns the decoder's ``ValueError`` into a ``ParseError`` but lets ``RecursionError``
    (``[[[[…]]]]`` a few thousand deep) escape.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
