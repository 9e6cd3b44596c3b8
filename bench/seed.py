"""Create Keyward's benchmark credentials (a key, a JWT, a session) and print them as JSON.

The key's rate limit is raised far above what wrk can send, so limiting and usage recording run
on every request without refusing any. ``invented`` are well-formed keys never issued;
``credits_key`` is the same key with credits (more than any run spends).
"""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from apikeys import crypto  # noqa: E402
from apikeys.services import api_key_create  # noqa: E402
from apikeys.shadow import proposal_create  # noqa: E402
from tenants.services import tenant_create_personal  # noqa: E402

INVENTED_KEYS = 2000  # a rotating set: each is presented again only after all the others
User = get_user_model()
user = User.objects.filter(email="bench@example.com").first()
if user is None:
    user = User.objects.create_user("bench@example.com", "bench-password-1", is_staff=True)
    tenant_create_personal(user=user)
_, raw_key = api_key_create(
    user=user,
    created_by=user,
    name="bench",
    key_type="production",
    rate_limit={"per_minute": 1_000_000_000, "per_hour": 1_000_000_000},
)
# A backend that asks about keys (keys/verify, /oauth2/introspect) with a key of its own.
_, verifier_key = api_key_create(
    user=user,
    created_by=user,
    name="bench verifier",
    key_type="production",
    scopes=["keys:verify"],
    rate_limit={"per_minute": 1_000_000_000, "per_hour": 1_000_000_000},
)
# The same key with credits (SPEC §12): enough that wrk never exhausts them.
_, credits_key = api_key_create(
    user=user,
    created_by=user,
    name="bench credits",
    key_type="production",
    rate_limit={"per_minute": 1_000_000_000, "per_hour": 1_000_000_000},
    credits={"remaining": 1_000_000_000_000},
)
# The same key with an active shadow proposal (SPEC §12): judged on every request, never refusing.
shadowed, shadow_key = api_key_create(
    user=user,
    created_by=user,
    name="bench shadow",
    key_type="production",
    rate_limit={"per_minute": 1_000_000_000, "per_hour": 1_000_000_000},
)
proposal_create(
    api_key=shadowed,
    changes={
        "scopes": ["read:all"],
        "allowed_ips": ["127.0.0.0/8"],
        "rate_limit": {"per_minute": 999_999_999, "per_hour": 999_999_999},
    },
    actor=user,
)
client = Client()
client.force_login(user)
session = client.cookies["sessionid"].value
invented = [crypto.generate_key() for _ in range(INVENTED_KEYS)]
print(
    json.dumps(
        {
            "key": raw_key,
            "verifier_key": verifier_key,
            "shadow_key": shadow_key,
            "jwt": str(AccessToken.for_user(user)),  # signed as KEYWARD_JWT_ALGORITHM says
            "session": session,
            "invented": invented,
            "credits_key": credits_key,
        }
    )
)
