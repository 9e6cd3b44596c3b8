"""Leak response: GitHub's secret-scanning partner reports (SPEC §12, docs/apikeys.md).

GitHub finds Keyward keys in public code (by the pattern in docs/apikeys.md
"secret_scanning_pattern") and posts them here, a JSON list of ``{token, type, url, source}``
signed with ECDSA P-256 / SHA-256 (DER, base64) in ``Github-Public-Key-Signature``, naming the
signing key in ``Github-Public-Key-Identifier``. The public keys are configured, never fetched
at request time: ``KEYWARD_SECRET_SCANNING_PUBLIC_KEYS``, GitHub's own shape
(``[{"key_identifier": "…", "key": "<PEM>"}]``, or the ``{"public_keys": [...]}`` object GitHub
serves). Without a good signature nothing is looked at: 401 ``invalid_signature``.

Each token is judged as verification judges a key: the checksum offline, then the keyed-hash
probe. A real key is revoked through ``apikeys.services.api_key_revoke``, the one revocation
path (everywhere or nowhere: a 503 changes nothing, and GitHub retries), and an
``api_key.leaked`` event is recorded for its owner. A canary is not revoked (it authorises
nothing and should go on reporting whoever picks it up) but is reported all the same.

Repeats are idempotent: the same key reported again from the same ``url`` gets the same
answer and changes nothing (no second revocation, no second event); a new ``url`` is a new
leak, recorded, and the key revoked again if its owner had re-activated it.
"""

import base64
import binascii
import functools
import json
import logging
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core import checks
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver
from rest_framework import exceptions

from apikeys import crypto
from apikeys.models import ApiKey
from apikeys.selectors import api_key_get_for_authentication
from apikeys.services import api_key_revoke
from audit.models import AuditEvent
from audit.services import audit_record
from core.domain_errors import Invalid

logger = logging.getLogger(__name__)

LEAK_EVENT = "api_key.leaked"
TRUE_POSITIVE = "true_positive"
FALSE_POSITIVE = "false_positive"
MAX_FINDINGS = 1000  # per report; GitHub batches far fewer, and each real key costs a probe
MAX_FIELD_LENGTH = 2048  # ``type``, ``url`` and ``source`` are stored cut to this length
KEY_IDENTIFIER_HEADER = "HTTP_GITHUB_PUBLIC_KEY_IDENTIFIER"
SIGNATURE_HEADER = "HTTP_GITHUB_PUBLIC_KEY_SIGNATURE"


class SignatureRefused(exceptions.AuthenticationFailed):
    """The report is not signed by a configured key: nothing in it is looked at."""

    default_detail = "The report's signature could not be verified."
    default_code = "invalid_signature"


@dataclass(frozen=True, slots=True)
class Finding:
    token: str
    token_type: str
    url: str
    source: str


# --- the signature ---------------------------------------------------------------------------


def verify_signature(*, body: bytes, key_identifier: str | None, signature: str | None) -> None:
    """Raise ``SignatureRefused`` unless ``signature`` is a configured key's over ``body``."""
    if not key_identifier or not signature:
        raise SignatureRefused(
            "Github-Public-Key-Identifier and Github-Public-Key-Signature are required."
        )
    public_key = public_keys().get(key_identifier.strip())
    if public_key is None:
        raise SignatureRefused("Unknown Github-Public-Key-Identifier.")
    try:
        der = base64.b64decode(signature.strip(), validate=True)
        public_key.verify(der, body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature) as exc:
        raise SignatureRefused() from exc


def public_keys() -> dict[str, ec.EllipticCurvePublicKey]:
    """The configured keys by identifier; entries that cannot be read are left out (and
    reported by ``manage.py check``)."""
    return _parsed_keys(json.dumps(settings.KEYWARD_SECRET_SCANNING_PUBLIC_KEYS or []))


@functools.lru_cache(maxsize=4)
def _parsed_keys(configured: str) -> dict:
    keys = {}
    for entry in _entries(json.loads(configured)):
        try:
            key = serialization.load_pem_public_key(entry["key"].encode())
        except (KeyError, TypeError, AttributeError, ValueError):
            logger.warning("KEYWARD_SECRET_SCANNING_PUBLIC_KEYS: an entry is not a PEM public key")
            continue
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(
            entry.get("key_identifier"), str
        ):
            keys[entry["key_identifier"]] = key
    return keys


def _entries(configured) -> list:
    if isinstance(configured, dict):  # GitHub's own document: {"public_keys": [...]}
        configured = configured.get("public_keys", [])
    return (
        [entry for entry in configured if isinstance(entry, dict)]
        if isinstance(configured, list)
        else []
    )


@receiver(setting_changed)
def _clear_keys(*, setting, **kwargs):
    if setting == "KEYWARD_SECRET_SCANNING_PUBLIC_KEYS":
        _parsed_keys.cache_clear()


@checks.register(checks.Tags.security)
def check_public_keys(app_configs=None, **kwargs):
    """Every configured entry must be an EC public key with an identifier."""
    configured = settings.KEYWARD_SECRET_SCANNING_PUBLIC_KEYS or []
    entries = _entries(configured)
    if configured and len(public_keys()) != len(entries or [None]):
        return [
            checks.Error(
                "KEYWARD_SECRET_SCANNING_PUBLIC_KEYS holds an entry that is not "
                '{"key_identifier": "…", "key": "<EC public key PEM>"}.',
                hint="Copy the keys from https://api.github.com/meta/public_keys/secret_scanning.",
                id="keyward.E020",
            )
        ]
    return []


# --- the report ------------------------------------------------------------------------------


def parse_report(body: bytes) -> list[Finding]:
    """The findings of a signed report; ``Invalid`` for a body of any other shape."""
    try:
        report = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid({"non_field_errors": ["The body is not JSON."]}) from exc
    if not isinstance(report, list):
        raise Invalid({"non_field_errors": ["Expected a list of findings."]})
    if len(report) > MAX_FINDINGS:
        raise Invalid({"non_field_errors": [f"At most {MAX_FINDINGS} findings a report."]})
    findings, errors = [], {}
    for n, item in enumerate(report):
        if not isinstance(item, dict) or not isinstance(item.get("token"), str):
            errors[f"{n}.token"] = ["Each finding needs a string token."]
            continue
        findings.append(
            Finding(
                token=item["token"],
                token_type=_text(item.get("type")),
                url=_text(item.get("url")),
                source=_text(item.get("source")),
            )
        )
    if errors:
        raise Invalid(errors)
    return findings


def secret_scanning_report(*, findings: list[Finding], reporter: str = "github") -> list[dict]:
    """Judge each finding, revoke and record the real keys; return GitHub's verdicts."""
    return [
        {
            "token_raw": finding.token,
            "token_type": finding.token_type,
            "label": TRUE_POSITIVE if _report_one(finding, reporter) else FALSE_POSITIVE,
        }
        for finding in findings
    ]


def _report_one(finding: Finding, reporter: str) -> bool:
    """True when ``finding`` is a real key (now revoked and recorded, unless a repeat)."""
    if not crypto.has_key_length(finding.token) or not crypto.is_well_formed(finding.token):
        return False
    api_key = api_key_get_for_authentication(finding.token)
    if api_key is None:
        return False
    api_key_leak_record(api_key=api_key, finding=finding, reporter=reporter)
    return True


@transaction.atomic
def api_key_leak_record(*, api_key: ApiKey, finding: Finding, reporter: str) -> bool:
    """Revoke a leaked key (if active, and not a canary) and record the leak, once per url.

    Returns ``False`` for a repeat, which changes nothing. The key's row is locked first, so
    two deliveries of the same report at once record it once.
    """
    api_key = ApiKey.objects.select_for_update().select_related("user").get(pk=api_key.pk)
    repeat = AuditEvent.objects.filter(
        event_type=LEAK_EVENT, target_id=str(api_key.pk), data__url=finding.url
    ).exists()
    if repeat:
        return False
    was_active = api_key.is_active
    revoke = was_active and not api_key.is_canary
    if revoke:
        api_key_revoke(api_key=api_key)
    audit_record(
        event_type=LEAK_EVENT,
        outcome=AuditEvent.Outcome.FAILURE,
        target=api_key,
        tenant_id=api_key.tenant_id,
        data={
            "key_id": str(api_key.pk),
            "key_prefix": api_key.key_prefix,
            "name": api_key.name,
            "owner_id": api_key.user_id,
            "reporter": reporter,
            "token_type": finding.token_type,
            "url": finding.url,
            "source": finding.source,
            "was_active": was_active,
            "revoked": revoke,
            "canary": api_key.is_canary,
        },
    )
    return True


def _text(value) -> str:
    return value[:MAX_FIELD_LENGTH] if isinstance(value, str) else ""
