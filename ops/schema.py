"""The error answers every operation can give, added to the OpenAPI schema in one place.

Views document their own success bodies and the errors particular to them; what SPEC §8 says
holds everywhere (a credential refused or lacking: 401/403; a limit: 429; a malformed
parameter or body: 400; a body of another media type: 415; an unknown id: 404) is added here
to every operation that can give it and does not already say so, with the ``{detail, code}``
body. Registered as a drf-spectacular postprocessing hook
(``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``).
"""

from rest_framework.settings import api_settings

ERROR_COMPONENT = "ErrorResponse"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every API error (SPEC §8).",
    "properties": {
        "detail": {"type": "string", "description": "A human message."},
        "code": {"type": "string", "description": "The machine code, e.g. `invalid_api_key`."},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Field messages, with `validation_error`: `{field: [msg]}`, flat; "
            "a nested field is named by its path (`rate_limit.per_minute`), a list's entry by "
            "its index (`allowed_ips.0`).",
        },
        "retry_after": {"type": "integer", "description": "Seconds to wait, with 429."},
    },
    "required": ["detail", "code"],
}
DESCRIPTIONS = {
    "400": "`validation_error`, `tenant_id_required` or another malformed input",
    "401": "No credential (`authentication_required`) or a refused one "
    "(`invalid_api_key`, `api_key_disabled`, `api_key_expired`, `invalid_token`, …)",
    "403": "`insufficient_permissions`, `not_key_manager`, `ip_not_allowed`, `tenant_mismatch`",
    "404": "`not_found` (or `tenant_not_found`)",
    "415": "`unsupported_media_type`: a body in another type than the one declared",
    "429": "`rate_limit_error`, with `Retry-After` and `retry_after`",
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def postprocess_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    throttled = _throttled_operations(generator)
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status in _expected_errors(path, operation, (path, method) in throttled):
                responses.setdefault(status, _error_response(status))
    return result


def _expected_errors(path: str, operation: dict, throttled: bool) -> list[str]:
    statuses = []
    if operation.get("requestBody") or operation.get("parameters"):
        statuses.append("400")
    if operation.get("requestBody"):
        statuses.append("415")
    if any(requirement for requirement in operation.get("security", ())):
        statuses += ["401", "403"]
    parameters = {parameter.get("name") for parameter in operation.get("parameters", ())}
    if "{" in path or "page" in parameters:  # an unknown id, or a page past the last one
        statuses.append("404")
    if throttled:
        statuses.append("429")
    return statuses


def _throttled_operations(generator) -> set[tuple[str, str]]:
    """The ``(path, method)`` pairs whose view runs DRF's throttle step (every one but health)."""
    operations = set()
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or ():
        view_class = getattr(callback, "cls", None)
        throttles = getattr(view_class, "throttle_classes", api_settings.DEFAULT_THROTTLE_CLASSES)
        if throttles:
            operations.add((path, method.lower()))
    return operations


def _error_response(status: str) -> dict:
    return {
        "description": DESCRIPTIONS[status],
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}
        },
    }
