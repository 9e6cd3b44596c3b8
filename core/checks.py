"""Deployment checks (``manage.py check --deploy``): secrets that should not lean on another.

The API keys' pepper and the JWT signing key default to values derived from ``SECRET_KEY`` so a
trial runs with one secret. In production that ties them together: rotating ``SECRET_KEY``
(for sessions) would also invalidate every API key and every token, and a leaked ``SECRET_KEY``
would be all three. The JWT signing key matters only when ``KEYWARD_JWT_ALGORITHM`` is HS256;
with the asymmetric default the warning is about the private key instead: generated on first
use into a file beside the database, it is not the same on two nodes unless configured.
Warnings, not errors: the process still starts.
"""

from django.conf import settings
from django.core import checks

W_PEPPER = checks.Warning(
    "KEYWARD_KEY_PEPPER is not set: API keys are hashed under a pepper derived from SECRET_KEY.",
    hint="Set KEYWARD_KEY_PEPPER to its own long random value (50+ characters) on every node "
    "before the first key is issued; docs/apikeys.md says how to change it later.",
    id="keyward.W010",
)
W_JWT = checks.Warning(
    "KEYWARD_JWT_SIGNING_KEY is not set (or equals SECRET_KEY): tokens are signed with SECRET_KEY.",
    hint="Set KEYWARD_JWT_SIGNING_KEY to its own long random value on every node; changing it "
    "later ends every access and refresh token.",
    id="keyward.W011",
)
W_JWT_KEY_GENERATED = checks.Warning(
    "KEYWARD_JWT_PRIVATE_KEY is not set: tokens are signed with a key generated into "
    "KEYWARD_JWT_KEY_FILE, which another node does not share.",
    hint="Run `manage.py rotatejwtkey` once and set the KEYWARD_JWT_PRIVATE_KEY it prints on "
    "every node (docs/oauth.md).",
    id="keyward.W012",
)


@checks.register(checks.Tags.security, deploy=True)
def check_secrets_do_not_fall_back_to_secret_key(app_configs=None, **kwargs):
    """Warn when the pepper or the JWT signing key is ``SECRET_KEY`` or derived from it."""
    secret_key = settings.SECRET_KEY
    warnings = []
    pepper = getattr(settings, "KEYWARD_KEY_PEPPER", "")
    if not pepper or pepper == secret_key:
        warnings.append(W_PEPPER)
    if getattr(settings, "KEYWARD_JWT_ALGORITHM", "ES256") == "HS256":
        signing_key = getattr(settings, "SIMPLE_JWT", {}).get("SIGNING_KEY")
        if not signing_key or signing_key == secret_key:
            warnings.append(W_JWT)
    elif not (getattr(settings, "KEYWARD_JWT_PRIVATE_KEY", "") or "").strip():
        warnings.append(W_JWT_KEY_GENERATED)
    return warnings
