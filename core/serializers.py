"""String fields that take only strings, for every serializer of the API (issue 25).

DRF's ``CharField`` is lenient on purpose: ``"description": 0`` is stored as ``"0"`` and
``UUIDField`` turns the number ``5`` into ``00000000-…-000000000005``. The published schema
says ``string``, so a number there is a client's mistake and is refused with the usual field
error (400 ``validation_error``, "Not a valid string."), as Schemathesis's
``negative_data_rejection`` check expects. Form posts (the browsable API, the pages) send only
strings and are unaffected.

Declare ``StrictCharField`` (and its email/slug/regex/UUID kin) where DRF's would go; a
``ModelSerializer`` gets them for its model's text and UUID columns by deriving from
``StrictModelSerializer``.
"""

from django.db import models
from rest_framework import serializers


class StrictStringMixin:
    """Refuse anything but a ``str`` before the field's own parsing."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


_NOT_A_STRING = {"not_a_string": "Not a valid string."}


class StrictCharField(StrictStringMixin, serializers.CharField):
    default_error_messages = _NOT_A_STRING


class StrictEmailField(StrictStringMixin, serializers.EmailField):
    default_error_messages = _NOT_A_STRING


class StrictSlugField(StrictStringMixin, serializers.SlugField):
    default_error_messages = _NOT_A_STRING


class StrictRegexField(StrictStringMixin, serializers.RegexField):
    default_error_messages = _NOT_A_STRING


class StrictURLField(StrictStringMixin, serializers.URLField):
    default_error_messages = _NOT_A_STRING


class StrictIPAddressField(StrictStringMixin, serializers.IPAddressField):
    default_error_messages = _NOT_A_STRING


class StrictUUIDField(serializers.UUIDField):
    """A UUID as text (or a ``uuid.UUID`` from Python code), never an integer."""

    default_error_messages = {"not_a_string": "Must be a valid UUID."}

    def to_internal_value(self, data):
        if isinstance(data, int):  # bool included
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictModelSerializer(serializers.ModelSerializer):
    """A ``ModelSerializer`` whose generated text and UUID fields are the strict ones."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.EmailField: StrictEmailField,
        models.SlugField: StrictSlugField,
        models.URLField: StrictURLField,
        models.UUIDField: StrictUUIDField,
        models.GenericIPAddressField: StrictIPAddressField,
    }
