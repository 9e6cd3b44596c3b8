"""``POST /api/v1/secret-scanning/reports``: GitHub's secret-scanning partner endpoint.

A machine endpoint: no session, no CSRF, no key (there is none to present). The signature in
the headers is the credential; each caller address is limited by the anonymous bucket. The
rules live in ``apikeys.secret_scanning``.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from apikeys import secret_scanning
from core.nostore import NO_STORE
from core.views import ApiView
from tenants.schema import error_response

CHALLENGE = 'Signature realm="keyward-secret-scanning"'


class FindingSerializer(serializers.Serializer):
    token = serializers.CharField()
    type = serializers.CharField(required=False)
    url = serializers.CharField(required=False)
    source = serializers.CharField(required=False)


class VerdictSerializer(serializers.Serializer):
    token_raw = serializers.CharField()
    token_type = serializers.CharField()
    label = serializers.ChoiceField(
        choices=[secret_scanning.TRUE_POSITIVE, secret_scanning.FALSE_POSITIVE]
    )


class SecretScanningReportView(ApiView):
    """Revoke the Keyward keys GitHub found in public code, and say which tokens were ours.

    The body is a JSON list of `{token, type, url, source}`, signed by GitHub
    (`Github-Public-Key-Identifier`, `Github-Public-Key-Signature`: base64 ECDSA P-256 SHA-256,
    DER, over the raw body) with a key in `KEYWARD_SECRET_SCANNING_PUBLIC_KEYS`. The answer
    labels each token `true_positive` (a real Keyward key, now revoked) or `false_positive`.
    Reporting a key again from the same `url` changes nothing.
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        return CHALLENGE

    @extend_schema(
        summary="Report leaked keys (GitHub secret-scanning partner program)",
        request=FindingSerializer(many=True),
        parameters=[
            OpenApiParameter("Github-Public-Key-Identifier", str, OpenApiParameter.HEADER),
            OpenApiParameter("Github-Public-Key-Signature", str, OpenApiParameter.HEADER),
        ],
        responses={
            200: VerdictSerializer(many=True),
            400: error_response("`validation_error`: not a list of findings, or over 1,000"),
            401: error_response("`invalid_signature`: missing, unknown or bad signature"),
            413: error_response("`request_too_large`: the body is over the request limit"),
            429: error_response("`rate_limit_error`"),
            503: error_response("`service_unavailable`: a revocation could not be confirmed"),
        },
        auth=[],
        tags=["api keys"],
    )
    def post(self, request):
        body = request.body
        secret_scanning.verify_signature(
            body=body,
            key_identifier=request.META.get(secret_scanning.KEY_IDENTIFIER_HEADER),
            signature=request.META.get(secret_scanning.SIGNATURE_HEADER),
        )
        findings = secret_scanning.parse_report(body)
        verdicts = secret_scanning.secret_scanning_report(findings=findings)
        # The answer quotes the tokens back, as GitHub's format asks: nothing may keep it.
        return Response(VerdictSerializer(verdicts, many=True).data, headers=NO_STORE)
