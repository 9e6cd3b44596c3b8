"""The keys that sign and verify every JWT Keyward mints, and the JWKS that publishes them.

Tokens are signed with an asymmetric key (``KEYWARD_JWT_ALGORITHM``: ``ES256`` by default,
``RS256`` or ``EdDSA``), so another service verifies them offline with the public half alone
(``/.well-known/jwks.json``); ``HS256`` with ``KEYWARD_JWT_SIGNING_KEY`` only when set
explicitly. The private key is ``KEYWARD_JWT_PRIVATE_KEY`` (PEM) or, when that is empty, one
generated once and kept in ``KEYWARD_JWT_KEY_FILE`` beside the embedded database. Every token
names its key in the ``kid`` header (the RFC 7638 thumbprint of the public key); verification
picks the key by ``kid`` among the current one and ``KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS``, so a
rotation ends no token before it expires.

The key ring is worked out once per process and cleared when a test changes a setting.
"""

import base64
import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken
from rest_framework_simplejwt.settings import api_settings

from core import fastpath

ASYMMETRIC_ALGORITHMS = ("ES256", "RS256", "EdDSA")
SYMMETRIC_ALGORITHM = "HS256"
DEFAULT_ALGORITHM = "ES256"
JWT_TYPE = "JWT"
ACCESS_TOKEN_JWT_TYPE = "at+jwt"  # RFC 9068 §2.1
_PEM_BLOCK = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)
# RFC 7638 §3.2: the members of each key type that its thumbprint covers.
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
_SETTINGS = frozenset(
    {
        "KEYWARD_JWT_ALGORITHM",
        "KEYWARD_JWT_PRIVATE_KEY",
        "KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS",
        "KEYWARD_JWT_KEY_FILE",
        "KEYWARD_JWT_SIGNING_KEY",
        "KEYWARD_JWT_ISSUER",
        "KEYWARD_JWT_AUDIENCE",
        "SIMPLE_JWT",
    }
)


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    kid: str
    algorithm: str
    key: object  # what PyJWT's decode takes: a public key object, or the HMAC secret
    jwk: dict | None  # the public JWK (None for an HMAC secret, which is never published)


@dataclass(frozen=True, slots=True)
class KeyRing:
    algorithm: str
    kid: str
    signing_key: object
    verifying: dict  # kid -> VerifyingKey: the current key first, then the previous ones
    generated: bool  # True when the private key was generated here rather than configured

    def public_jwks(self) -> dict:
        return {"keys": [key.jwk for key in self.verifying.values() if key.jwk is not None]}


def jwt_algorithm() -> str:
    algorithm = getattr(settings, "KEYWARD_JWT_ALGORITHM", DEFAULT_ALGORITHM) or DEFAULT_ALGORITHM
    if algorithm not in (*ASYMMETRIC_ALGORITHMS, SYMMETRIC_ALGORITHM):
        raise ImproperlyConfigured(
            f"KEYWARD_JWT_ALGORITHM must be one of {', '.join(ASYMMETRIC_ALGORITHMS)} or HS256."
        )
    return algorithm


def issuer() -> str:
    return settings.KEYWARD_JWT_ISSUER


def audience() -> str:
    return settings.KEYWARD_JWT_AUDIENCE


@lru_cache(maxsize=1)
def key_ring() -> KeyRing:
    """The signing key and every key a token may be verified with, read once per process."""
    algorithm = jwt_algorithm()
    previous = [_verifying_key(key) for key in previous_public_keys()]
    if algorithm == SYMMETRIC_ALGORITHM:
        secret = settings.KEYWARD_JWT_SIGNING_KEY
        kid = _thumbprint({"k": _b64(secret.encode()), "kty": "oct"})
        current = VerifyingKey(kid=kid, algorithm=algorithm, key=secret, jwk=None)
        signing_key, generated = secret, False
    else:
        configured = _pem_setting("KEYWARD_JWT_PRIVATE_KEY")
        pem = configured or _generated_private_pem(Path(settings.KEYWARD_JWT_KEY_FILE), algorithm)
        signing_key = load_private_key(pem)
        if key_algorithm(signing_key.public_key()) != algorithm:
            source = "KEYWARD_JWT_PRIVATE_KEY" if configured else settings.KEYWARD_JWT_KEY_FILE
            raise ImproperlyConfigured(
                f"{source} is not a key for KEYWARD_JWT_ALGORITHM={algorithm} (rotatejwtkey "
                "--algorithm prints one)."
            )
        current = _verifying_key(signing_key.public_key())
        generated = not configured
    verifying = {current.kid: current}
    for key in previous:
        verifying.setdefault(key.kid, key)
    return KeyRing(
        algorithm=algorithm,
        kid=current.kid,
        signing_key=signing_key,
        verifying=verifying,
        generated=generated,
    )


@receiver(setting_changed)
def _forget_keys(*, setting, **kwargs):
    if setting in _SETTINGS:
        key_ring.cache_clear()


class KeywardTokenBackend(TokenBackend):
    """SimpleJWT's backend, signing with the key ring's key and verifying by ``kid``.

    Adds ``iss`` and ``aud`` to every token (and ``sub``, the user id as a string, to a user's)
    and checks them, puts ``kid`` and ``typ`` in the header, and requires the claims every
    Keyward token carries. SimpleJWT's own backend knows one verifying key only; rotation needs
    the previous ones too. Nothing is read when it is built: every call reads the key ring.
    """

    def __init__(self, *, jwt_type: str = JWT_TYPE):
        self.jwt_type = jwt_type
        self.json_encoder = None
        self.jwks_client = None

    @property
    def algorithm(self) -> str:
        return key_ring().algorithm

    @property
    def leeway(self):
        return settings.SIMPLE_JWT.get("LEEWAY", 0)

    def encode(self, payload: dict) -> str:
        ring = key_ring()
        claims = {**payload, "iss": issuer(), "aud": audience()}
        user_id = payload.get(api_settings.USER_ID_CLAIM)
        if "sub" not in claims and user_id is not None:
            claims["sub"] = str(user_id)
        return jwt.encode(
            claims,
            ring.signing_key,
            algorithm=ring.algorithm,
            headers={"kid": ring.kid, "typ": self.jwt_type},
        )

    def decode(self, token, verify: bool = True) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is invalid") from exc
        key = key_ring().verifying.get(header.get("kid")) if isinstance(header, dict) else None
        if key is None or not _type_matches(header.get("typ"), self.jwt_type):
            raise TokenBackendError("Token is invalid")
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                audience=audience(),
                issuer=issuer(),
                leeway=self.get_leeway(),
                options={
                    "verify_signature": verify,
                    "require": ["exp", "iat", "iss", "aud", "sub", "jti"],
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenBackendExpiredToken("Token is expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is invalid") from exc


# A user's tokens (access and refresh) and a service client's (RFC 9068's ``at+jwt``).
user_token_backend = KeywardTokenBackend(jwt_type=JWT_TYPE)
client_token_backend = KeywardTokenBackend(jwt_type=ACCESS_TOKEN_JWT_TYPE)


def install() -> None:
    """Make SimpleJWT's token classes sign and verify with ``user_token_backend``.

    SimpleJWT's own classes included (``AccessToken.for_user``); how, and why it is guarded,
    is ``core.fastpath.simplejwt``'s to say. Run from ``AccountsConfig.ready``.
    """
    fastpath.install_token_backend(user_token_backend)


def _type_matches(value, expected: str) -> bool:
    # RFC 9068 §4: "at+jwt" may also be written "application/at+jwt"; media types ignore case.
    if not isinstance(value, str):
        return False
    value = value.lower()
    return value == expected.lower() or value == f"application/{expected.lower()}"


# --- Keys -------------------------------------------------------------------------------


def generate_private_key(algorithm: str):
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ImproperlyConfigured(f"No key pair for {algorithm}: only {ASYMMETRIC_ALGORITHMS}.")


def private_pem(private_key) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_pem(public_key) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_private_key(pem: str):
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeError) as exc:
        raise ImproperlyConfigured(
            "KEYWARD_JWT_PRIVATE_KEY is not an unencrypted PEM key."
        ) from exc
    key_algorithm(key.public_key())  # refuses a key type no supported algorithm uses
    return key


def previous_public_keys() -> list:
    """The public keys in ``KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS``: PEM blocks, one after another."""
    text = _pem_setting("KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS")
    keys = []
    for block in _PEM_BLOCK.findall(text):
        try:
            keys.append(serialization.load_pem_public_key(block.encode("ascii")))
        except (ValueError, TypeError, UnicodeError) as exc:
            raise ImproperlyConfigured(
                "KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS holds a PEM block that is not a public key."
            ) from exc
    if text.strip() and not keys:
        raise ImproperlyConfigured(
            "KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS holds no -----BEGIN PUBLIC KEY----- block."
        )
    return keys


def key_algorithm(public_key) -> str:
    """The JWS algorithm a public key signs with."""
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1":
        return "ES256"
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= 2048:
        return "RS256"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise ImproperlyConfigured(
        "A JWT key must be EC P-256 (ES256), RSA of 2048 bits or more (RS256) or Ed25519 (EdDSA)."
    )


def public_jwk(public_key) -> dict:
    """The public JWK (RFC 7517) of ``public_key``, with ``kid``, ``alg`` and ``use``."""
    algorithm = key_algorithm(public_key)
    to_jwk = {"ES256": ECAlgorithm, "RS256": RSAAlgorithm, "EdDSA": OKPAlgorithm}[algorithm]
    jwk = to_jwk.to_jwk(public_key, as_dict=True)
    return {**jwk, "kid": _thumbprint(jwk), "alg": algorithm, "use": "sig"}


def _verifying_key(public_key) -> VerifyingKey:
    jwk = public_jwk(public_key)
    return VerifyingKey(kid=jwk["kid"], algorithm=jwk["alg"], key=public_key, jwk=jwk)


def _thumbprint(jwk: dict) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace."""
    members = _THUMBPRINT_MEMBERS.get(jwk["kty"], ("k", "kty"))
    canonical = json.dumps(
        {name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True
    )
    return _b64(hashlib.sha256(canonical.encode("utf-8")).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _pem_setting(name: str) -> str:
    # An environment variable or a .env line often cannot hold newlines: "\n" stands for one.
    return (getattr(settings, name, "") or "").replace("\\n", "\n").strip()


def _generated_private_pem(path: Path, algorithm: str) -> str:
    """The key kept at ``path``, created on first use: mode 0600, and atomically.

    The new key is written to a temporary file and then linked into place, which fails if the
    file exists; so two processes starting together both end up reading the one that won.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".jwt-key-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(private_pem(generate_private_key(algorithm)))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process won: its key is the one
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    return path.read_text()


def configuration_error() -> str | None:
    """What is wrong with the configured keys, read without generating one; ``None`` if nothing.

    For ``manage.py check``: a bad key found at start-up rather than by the first token.
    """
    try:
        algorithm = jwt_algorithm()
        configured = _pem_setting("KEYWARD_JWT_PRIVATE_KEY")
        asymmetric = algorithm != SYMMETRIC_ALGORITHM
        if (
            asymmetric
            and configured
            and key_algorithm(load_private_key(configured).public_key()) != algorithm
        ):
            return f"KEYWARD_JWT_PRIVATE_KEY is not a key for KEYWARD_JWT_ALGORITHM={algorithm}."
        previous_public_keys()
    except ImproperlyConfigured as exc:
        return str(exc)
    return None
