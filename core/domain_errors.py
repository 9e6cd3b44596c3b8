"""What a service says when a rule of the domain refuses.

Services, rules and selectors raise these, never an edge's own exceptions (DRF's, a form's,
``CommandError``), so one rule reads the same wherever it is met. Each edge maps them once:
the API in its exception handler (``core.errors.api_exception_of``: SPEC §8's bodies), the
pages and the admin beside a form's fields (``core.forms``), the commands as a
``CommandError`` (``apikeys.management.commands._common``).
"""


class DomainError(Exception):
    """A refusal with SPEC §8's machine ``code`` and a ``detail`` for people."""

    default_code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code

    def messages(self) -> list[str]:
        return [self.detail]


class Invalid(DomainError):
    """Input a rule refuses, by field: ``{"scopes": ["…"], "non_field_errors": ["…"]}``; a
    field's messages may be nested by position or key (``{"endpoints": {0: {"path": […]}}}``).
    """

    default_code = "validation_error"

    def __init__(self, errors: dict):
        self.errors = errors
        super().__init__("Invalid input.")

    def messages(self) -> list[str]:
        """Every message as a sentence, after the field it names."""
        return sentences(self.errors)


def sentences(detail) -> list[str]:
    """Messages however nested, as flat sentences: ``"field: message"``."""
    if isinstance(detail, dict):
        return [f"{key}: {m}" for key, value in detail.items() for m in sentences(value)]
    if isinstance(detail, list | tuple):
        return [m for item in detail for m in sentences(item)]
    return [str(detail)] if str(detail) else []


class NotAllowed(DomainError):
    """The caller may not do this (403)."""

    default_code = "insufficient_permissions"


class NotFound(DomainError):
    """Nothing the caller may see is there (404)."""

    default_code = "not_found"


class Conflicting(DomainError):
    """The thing is not in a state that allows this (409)."""

    default_code = "conflict"
