"""Verification for services not written in Django (SPEC §3): ``keys/verify`` and ``auth/check``.

Both answer with ``authorize``, the decision every Keyward view uses, so a proxy or a backend
hears exactly what a direct call would have heard. The rules live in ``apikeys.verification``.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from apikeys.api import ERRORS
from apikeys.permissions import HasPrincipal
from apikeys.serializers import KeyVerifyRequestSerializer, KeyVerifyResponseSerializer
from apikeys.verification import check_forwarded, verify_key
from core.domain_errors import DomainError
from core.errors import BadRequest, api_exception_of
from core.principal import principal_of
from core.views import ApiView
from identity.paths import InvalidPath


class KeyVerifyView(ApiView):
    required_scope = "keys:verify"

    @extend_schema(
        summary="Verify a key for another service: valid or not, and why (counts as a use)",
        request=KeyVerifyRequestSerializer,
        responses={200: KeyVerifyResponseSerializer, **ERRORS},
        tags=["verification"],
    )
    def post(self, request):
        serializer = KeyVerifyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(key_verify_answer(principal_of(request), serializer.validated_data))


def key_verify_answer(verifier, data) -> dict:
    """The body of ``keys/verify`` for a validated request; shared with the WSGI lane."""
    try:
        verdict = verify_key(
            verifier=verifier,
            raw_key=data["key"],
            method=data["method"],
            path=data["path"],
            tenant_id=data.get("tenant_id"),
            ip=data.get("ip"),
            cost=data["cost"],
        )
    except InvalidPath as exc:
        raise BadRequest(str(exc), code=exc.code) from exc
    # ``as_dict`` is the shape ``KeyVerifyResponseSerializer`` documents, field for field
    # (tests/apikeys/test_verification.py holds them together); running the serializer over it
    # on every answer only copied its fields.
    return verdict.as_dict()


AUTH_CHECK_SCHEMA = {
    "summary": "Sub-request authorization for reverse proxies",
    "parameters": [
        OpenApiParameter("X-Original-Method", str, OpenApiParameter.HEADER),
        OpenApiParameter("X-Original-URI", str, OpenApiParameter.HEADER),
    ],
    "responses": {
        200: OpenApiResponse(description="Allowed; see the X-Auth-* response headers."),
        **ERRORS,
    },
    "tags": ["verification"],
}


class AuthCheckView(ApiView):
    """For a reverse proxy's sub-request (nginx ``auth_request``, Traefik ``forwardAuth``).

    The credential comes in the forwarded headers, the original request in
    ``X-Original-Method`` and ``X-Original-URI``. 200 with ``X-Auth-*`` headers, or the 401,
    403 or 429 the original request would have had.
    """

    permission_classes = [HasPrincipal]

    def handle_exception(self, exc):
        """A proxy knows only allow (2xx), 401 and 403 (and Keyward's nginx example, 429).

        nginx's ``auth_request`` turns any other status into a 500 for the end client, so a
        tenant the caller may not see (404) or a malformed forwarded header (400) is answered
        403 here, keeping its code (``tenant_not_found``, ``validation_error``) in the body.
        Every refusal also names its code in ``X-Auth-Error-Code``, which nginx can forward.
        A path refused by ``normalise_path`` is 403 ``invalid_path`` (SPEC §9).
        """
        if isinstance(exc, DomainError):
            exc = api_exception_of(exc)
        if isinstance(exc, InvalidPath):
            exc = exceptions.PermissionDenied(str(exc), code=exc.code)
        elif isinstance(exc, exceptions.APIException) and exc.status_code in (400, 404):
            codes = exc.get_codes()
            code = codes if isinstance(codes, str) else "validation_error"
            exc = exceptions.PermissionDenied(
                exc.detail if code != "validation_error" else "Invalid forwarded request.",
                code=code,
            )
        response = super().handle_exception(exc)
        if isinstance(response.data, dict) and response.data.get("code"):
            response["X-Auth-Error-Code"] = response.data["code"]  # proxies pass headers on
        return response

    @extend_schema(**AUTH_CHECK_SCHEMA)
    def get(self, request):
        return self._check(request)

    # Proxies that forward the original method (Traefik, Envoy) call with it; the verdict is
    # the same, decided by X-Original-Method when given.
    @extend_schema(**AUTH_CHECK_SCHEMA, request=None)
    def post(self, request):
        return self._check(request)

    put = patch = delete = post

    def _check(self, request):
        response = Response(status=status.HTTP_200_OK)
        for name, value in auth_check_headers(request, principal_of(request)).items():
            response[name] = value
        return response


def auth_check_headers(request, principal) -> dict[str, str]:
    """The ``X-Auth-*`` headers of an allowed ``auth/check``, in order; raises its refusal.

    Shared by the view and the WSGI lane (``config.lane``), so both answer alike.
    """
    method = (request.META.get("HTTP_X_ORIGINAL_METHOD") or request.method).upper()
    original_uri = request.META.get("HTTP_X_ORIGINAL_URI")
    path = "/" if original_uri is None else _header_text(original_uri).split("?", 1)[0]
    decision, tenant_id = check_forwarded(request, principal=principal, method=method, path=path)
    client = principal.service_client
    return {
        "X-Auth-User-Id": str(principal.user.pk) if principal.user else "",
        "X-Auth-Tenant-Id": str(tenant_id) if tenant_id else "",
        "X-Auth-Key-Prefix": principal.key_prefix or "",
        "X-Auth-Client-Id": str(client.client_id) if client is not None else "",
        "X-Auth-Scopes": " ".join(principal.scopes),
        "X-Auth-Method": principal.auth_method,
        "X-Auth-Reason": decision.reason,
    }


def _header_text(value: str) -> str:
    """A header as the text its bytes spell: WSGI hands headers over decoded as ISO-8859-1,
    and a proxy forwards a raw UTF-8 request line as it came (``/café`` as ``/cafÃ©``)."""
    if value.isascii():
        return value
    try:
        return value.encode("iso-8859-1").decode("utf-8")
    except UnicodeEncodeError:
        return value  # already text (not from a WSGI server)
    except UnicodeDecodeError as exc:
        raise InvalidPath("X-Original-URI is not UTF-8.") from exc
