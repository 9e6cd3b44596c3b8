"""Responses that carry a secret — a raw key, a client secret, a token — and nothing may keep.

SPEC §9: every such response says ``Cache-Control: no-store`` (RFC 9111 §5.2.2.5: no cache,
shared or the browser's, stores it), plus ``Pragma: no-cache`` for HTTP/1.0 caches as RFC 6749
§5.1 asks of token responses. Every door that hands out a secret uses this module: DRF views
pass ``headers=NO_STORE``, pages and the admin call ``no_store(response)``.
"""

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def no_store(response):
    """Mark ``response``, which carries a secret, so that no cache keeps a copy; return it."""
    for header, value in NO_STORE.items():
        response[header] = value
    return response
