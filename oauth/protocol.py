"""The token endpoint's wire format (RFC 6749 §2.3.1, §3.2, §4.4, §5): parsing and errors.

Parsing is strict and never raises anything but ``OAuthError``: a body that is not
``application/x-www-form-urlencoded`` UTF-8, a repeated parameter, two client authentication
methods at once or a ``client_id`` parameter naming another client than Basic is
``invalid_request``; no client authentication
at all, or a Basic header that cannot be read, is ``invalid_client``. Nothing here touches
the database.
"""

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus

from django.core.exceptions import RequestDataTooBig

from identity import credentials
from oauth.selectors import parse_client_id

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
BASIC_REALM = 'Basic realm="keyward"'
_MAX_FIELDS = 20
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F)) - {'"', "\\"}


class OAuthError(Exception):
    """An RFC 6749 §5.2 error; ``code`` (SPEC §8) is the same string unless given."""

    def __init__(self, error: str, description: str, status: int = 400, code: str | None = None):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.code = code or error

    def body(self) -> dict:
        return {
            "error": self.error,
            "error_description": self.description,
            "detail": self.description,
            "code": self.code,
        }


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_client(description: str = "Client authentication failed.") -> OAuthError:
    return OAuthError("invalid_client", description, status=401)


@dataclass(frozen=True, slots=True)
class TokenRequest:
    grant_type: str
    client_id: str
    client_secret: str | None
    scope: str | None  # as sent, space-separated; None when omitted
    auth_method: str  # "client_secret_basic" or "client_secret_post" (RFC 7591 names)


def token_request_parse(request) -> TokenRequest:
    """Read a token request from a Django ``HttpRequest``, or raise ``OAuthError``."""
    if request.GET.get("client_secret"):
        raise invalid_request("Client credentials must not be sent in the URL.")
    params = _form_params(request)
    grant_type = params.get("grant_type")
    if grant_type is None:
        raise invalid_request("The grant_type parameter is missing.")
    if grant_type != GRANT_CLIENT_CREDENTIALS:
        raise OAuthError(
            "unsupported_grant_type", "Only the client_credentials grant type is supported."
        )

    form_id, form_secret = params.get("client_id"), params.get("client_secret")
    authorization = request.META.get("HTTP_AUTHORIZATION")
    if authorization is not None and authorization.strip():
        if form_secret is not None:
            raise invalid_request(
                "Use one client authentication method: HTTP Basic or the form fields, not both."
            )
        client_id, client_secret = _basic_credentials(authorization)
        # RFC 6749 §3.2.1 lets a client name itself with client_id beside its authentication.
        if form_id is not None and not _same_client_id(form_id, client_id):
            raise invalid_request("The client_id parameter names another client than Basic.")
        auth_method = "client_secret_basic"
    elif form_id is not None:
        client_id, client_secret, auth_method = form_id, form_secret, "client_secret_post"
    elif form_secret is not None:
        raise invalid_request("client_secret was sent without client_id.")
    else:
        raise invalid_client("No client authentication was included.")
    return TokenRequest(
        grant_type=grant_type,
        client_id=client_id,
        client_secret=client_secret,
        scope=params.get("scope"),
        auth_method=auth_method,
    )


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str | None
    auth_method: str


def endpoint_request_parse(request) -> tuple[dict[str, str], ClientCredentials | None]:
    """Read an introspection or revocation request (RFC 7662 §2.1, RFC 7009 §2.1).

    Returns the form parameters and the client credentials, ``None`` when the caller presents
    none (it may present an API key instead: ``Basic base64("apikey:<key>")`` is one). The same
    strict rules as the token endpoint: one method, never the secret in the URL.
    """
    if request.GET.get("client_secret") or request.GET.get("token"):
        raise invalid_request("Credentials and tokens must not be sent in the URL.")
    params = _form_params(request)
    form_id, form_secret = params.get("client_id"), params.get("client_secret")
    authorization = (request.META.get("HTTP_AUTHORIZATION") or "").strip()
    if authorization.lower().startswith("basic ") and not is_api_key_basic(authorization):
        if form_secret is not None:
            raise invalid_request(
                "Use one client authentication method: HTTP Basic or the form fields, not both."
            )
        client_id, client_secret = _basic_credentials(authorization)
        if form_id is not None and not _same_client_id(form_id, client_id):
            raise invalid_request("The client_id parameter names another client than Basic.")
        return params, ClientCredentials(client_id, client_secret, "client_secret_basic")
    if form_id is not None or form_secret is not None:
        if form_id is None:
            raise invalid_request("client_secret was sent without client_id.")
        if authorization:
            raise invalid_request("Use one authentication method, not a header and the form.")
        return params, ClientCredentials(form_id, form_secret, "client_secret_post")
    return params, None


def is_api_key_basic(authorization: str) -> bool:
    """``Basic base64("apikey:<key>")`` presents an API key (SPEC §3), not a client."""
    try:
        pair = credentials.basic_pair(authorization)
    except credentials.CredentialRefused:
        return False
    return pair is not None and pair[0] == "apikey"


def requested_scopes(scope: str | None) -> list[str] | None:
    """The scope tokens asked for, in order and once each; ``None`` when none was asked for."""
    if scope is None:
        return None
    # RFC 6749 §3.3 separates by spaces; commas are read as separators too (SPEC §3's habit),
    # which changes no answer that could have succeeded: no allowed scope contains a comma.
    tokens = list(dict.fromkeys(scope.replace(",", " ").split(" ")))
    tokens = [token for token in tokens if token]
    if not tokens or any(not set(token) <= _SCOPE_TOKEN_CHARS for token in tokens):
        raise OAuthError("invalid_scope", "The scope parameter is malformed.")
    return tokens


def _form_params(request) -> dict[str, str]:
    """The url-encoded body as a dict; empty values count as omitted (RFC 6749 §3.1)."""
    content_type = request.META.get("CONTENT_TYPE", "")
    media_type, _, parameters = content_type.partition(";")
    if not media_type.strip() and request.META.get("CONTENT_LENGTH") in (None, "", "0"):
        return {}  # no body at all: say which parameter is missing, not which media type
    if media_type.strip().lower() != FORM_CONTENT_TYPE:
        raise invalid_request(f"The request body must be {FORM_CONTENT_TYPE}.")
    charset = _charset(parameters)
    if charset not in (None, "utf-8", "utf8"):
        raise invalid_request("The request body must be UTF-8.")
    try:
        text = request.body.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, max_num_fields=_MAX_FIELDS
        )
    except RequestDataTooBig as exc:
        raise invalid_request("The request body is too large.") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise invalid_request("The request body is not valid url-encoded UTF-8.") from exc
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise invalid_request(f"The {name} parameter is repeated.")
        params[name] = value
    return {name: value for name, value in params.items() if value != ""}


def _same_client_id(first: str, second: str) -> bool:
    parsed = parse_client_id(first)
    return first == second or (parsed is not None and parsed == parse_client_id(second))


def _charset(parameters: str) -> str | None:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def _basic_credentials(authorization: str) -> tuple[str, str]:
    """client_id and secret from ``Basic base64(urlencode(id):urlencode(secret))``.

    Any failure is ``invalid_client`` (401): RFC 6749 §5.2 requires a 401 with a challenge
    whenever the client tried to authenticate through the ``Authorization`` header.
    """
    if authorization.split()[0].lower() != "basic":
        raise invalid_client("Client authentication must use HTTP Basic or the form fields.")
    try:
        pair = credentials.basic_pair(authorization)
    except credentials.CredentialRefused as exc:
        raise invalid_client(exc.detail) from exc
    if pair is None or not pair[0]:
        raise invalid_client("Basic credentials must be client_id:client_secret.")
    raw_id, raw_secret = pair
    # RFC 6749 §2.3.1: each part is form-urlencoded before it is joined and base64-encoded.
    return unquote_plus(raw_id), unquote_plus(raw_secret)
