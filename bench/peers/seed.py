"""Create the peers' credentials and print them as JSON."""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from knox.models import AuthToken  # noqa: E402
from rest_framework_api_key.models import APIKey  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

user, _ = get_user_model().objects.get_or_create(username="bench")
_, api_key = APIKey.objects.create_key(name="bench")
_, knox_token = AuthToken.objects.create(user)
print(json.dumps({"apikey": api_key, "knox": knox_token, "jwt": str(AccessToken.for_user(user))}))
