"""The Django admin's login form: one more door onto the same login (SPEC §9).

``config/urls.py`` installs it as ``admin.site.login_form``. It checks the password through
``user_authenticate``, as the API and the pages do, so the admin shares their per-IP and
per-email limits and writes the same ``login.succeeded`` / ``login.failed`` rows (``via:
"admin"``). Django's ``AdminAuthenticationForm`` would call ``authenticate()`` itself, counted by
nothing and audited by nothing.
"""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from rest_framework import exceptions

from accounts.services import login_attempt_unreadable, user_authenticate
from core.errors import RateLimitExceeded, ServiceUnavailable

TOO_MANY_ATTEMPTS = "Too many login attempts. Please wait %(retry_after)s seconds and try again."
UNAVAILABLE = "Logging in is unavailable right now; try again shortly."


class AdminLoginForm(AdminAuthenticationForm):
    def clean(self):
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        try:
            if email is None or not password:
                login_attempt_unreadable(request=self.request, email=self.data.get("username"))
            else:
                self.user_cache = user_authenticate(
                    request=self.request,
                    email=email,
                    password=password,
                    via="admin",
                    staff_only=True,
                )
        except RateLimitExceeded as exc:
            self.retry_after = exc.retry_after  # for ``limited_login``: the page answers 429
            raise ValidationError(
                TOO_MANY_ATTEMPTS,
                code="rate_limit_error",
                params={"retry_after": exc.retry_after},
            ) from exc
        except ServiceUnavailable as exc:
            raise ValidationError(UNAVAILABLE, code="service_unavailable") from exc
        except exceptions.AuthenticationFailed as exc:
            # Django's own words for a wrong password and for a user who is not staff alike.
            raise self.get_invalid_login_error() from exc
        return self.cleaned_data


def limited_login(login_view):
    """The admin's login view, answering 429 (with ``Retry-After``) when the form was refused
    for the shared login limits, as every other door does (SPEC §2, §9). The page is the
    admin's own login form, the limit named above it."""

    def login(request, extra_context=None):
        response = login_view(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        retry_after = getattr(form, "retry_after", None)
        if retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(retry_after)
        return response

    return login
