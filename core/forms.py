"""What every page form shares: Django's forms, placed beside the services they front."""

from django import forms


def error_messages(detail) -> list[str]:
    """A DRF error detail, however nested (endpoint grants are), as flat sentences."""
    if isinstance(detail, dict):
        return [f"{key}: {m}" for key, value in detail.items() for m in error_messages(value)]
    if isinstance(detail, list | tuple):
        return [m for item in detail for m in error_messages(item)]
    return [str(detail)] if str(detail) else []


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

    def add_service_errors(self, detail) -> None:
        """Put a service's ``ValidationError`` detail beside the fields it names."""
        if not isinstance(detail, dict):
            detail = {None: detail}
        for key, messages in detail.items():
            field = self.service_field_names.get(key, key)
            self.add_error(field if field in self.fields else None, error_messages(messages))
