"""What every page form shares: Django's forms, placed beside the services they front."""

from django import forms

from core.domain_errors import DomainError, Invalid, sentences


def refusal_messages(exc) -> list[str]:
    """What a service refused, as sentences: a domain error, or the API exception of a lower
    layer (the shared cache's 503 when a narrowing change could not be confirmed)."""
    if isinstance(exc, DomainError):
        return exc.messages()
    return sentences(exc.detail)


class PageForm(forms.Form):
    """A form of the site's pages: plain labels, and a service's errors beside their fields."""

    # Where a service's error keys differ from the form's field names.
    service_field_names: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")  # "Email", not Django's "Email:"
        super().__init__(*args, **kwargs)
        if self.is_bound:  # a form shown again has errors: their summary takes the focus
            for field in self.fields.values():
                field.widget.attrs.pop("autofocus", None)

    def add_domain_error(self, error: DomainError) -> None:
        """A service's refusal beside the fields it names (the whole form's, for the rest)."""
        if isinstance(error, Invalid):
            self.add_service_errors(error.errors)
        else:
            self.add_error(None, error.detail)

    def add_service_errors(self, detail) -> None:
        """Put a service's ``ValidationError`` detail beside the fields it names."""
        if not isinstance(detail, dict):
            detail = {None: detail}
        for key, messages in detail.items():
            field = self.service_field_names.get(key, key)
            self.add_error(field if field in self.fields else None, sentences(messages))
