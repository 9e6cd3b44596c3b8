"""Web pages: register, login, the dashboard, and the form posts of the auth endpoints.

``register_submit`` and ``login_submit`` handle a form post wherever it arrives: at the page
itself (``/register``, ``/login``, CSRF-checked by the middleware) or at the API endpoint
(``/api/v1/auth/register``, ``/api/v1/auth/login``, checked by the cookie rule of SPEC §2).
"""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework import exceptions

from accounts.authentication import access_cookie_set
from accounts.csrf import CSRF_FAILED, CrossSitePost
from accounts.forms import LoginForm, RegisterForm
from accounts.ratelimits import register_rate_limit
from accounts.selectors import user_memberships
from accounts.services import (
    INVALID_CREDENTIALS,
    login_attempt_unreadable,
    user_authenticate,
    user_login_session,
    user_register,
)
from core.domain_errors import Invalid
from core.errors import BEARER_CHALLENGE, RateLimitExceeded, ServiceUnavailable
from core.usertime import zone_remember
from core.views import see_other
from tenants.selectors import invitation_list_for_user

WWW_AUTHENTICATE = BEARER_CHALLENGE


@require_http_methods(["GET", "HEAD", "POST"])
def register_page(request):
    if request.method == "POST":
        return register_submit(request)
    if request.user.is_authenticated:
        return redirect("/")
    return render(request, "accounts/register.html", {"form": RegisterForm()})


@require_http_methods(["GET", "HEAD", "POST"])
def login_page(request):
    if request.method == "POST":
        return login_submit(request)
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    return render(
        request,
        "accounts/login.html",
        {"form": LoginForm(), "next": request.GET.get("next", "")},
    )


@require_GET
def dashboard(request):
    """``/``: a short landing for visitors; for a user, the figures of the current tenant."""
    if not request.user.is_authenticated:
        return render(request, "accounts/landing.html")
    from apikeys.views import key_counts  # the key pages import this module

    return render(
        request,
        "accounts/dashboard.html",
        {
            "memberships": user_memberships(user=request.user),
            "invitations": invitation_list_for_user(user=request.user),
            "counts": key_counts(request),
        },
    )


def register_submit(request):
    """Register from a form post: 303 to the login page, or the page again with its errors."""
    try:
        register_rate_limit(request, email=request.POST.get("email"))
    except (RateLimitExceeded, ServiceUnavailable) as exc:
        return error_page(request, exc)
    form = RegisterForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            user_register(
                email=data["email"],
                password=data["password"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                request=request,
            )
        except Invalid as exc:
            form.add_domain_error(exc)
        else:
            messages.success(request, "Your account is ready. Log in to continue.")
            return see_other(settings.LOGIN_URL)
    return render(request, "accounts/register.html", {"form": form}, status=400)


def login_submit(request):
    """Log in from a form post: a session plus the ``access_token`` cookie, 303 to the app."""
    form = LoginForm(request.POST)
    context = {"form": form, "next": request.POST.get("next", "")}
    try:
        if not form.is_valid():
            login_attempt_unreadable(request=request, email=request.POST.get("email"))
            return render(request, "accounts/login.html", context, status=400)
        user = user_authenticate(
            request=request,
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            via="form",
        )
    except (RateLimitExceeded, ServiceUnavailable) as exc:
        return error_page(request, exc)
    except exceptions.AuthenticationFailed:
        form.add_error(None, INVALID_CREDENTIALS)
        response = render(request, "accounts/login.html", context, status=401)
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
        return response
    access_token = user_login_session(request=request, user=user)
    # The browser's zone, for the pages' dates (the tenant is chosen by tenants.signals).
    zone_remember(request, request.POST.get("time_zone"))
    response = see_other(_next_url(request))
    access_cookie_set(response, access_token)
    return response


def logged_out_redirect(request):
    messages.info(request, "You have been logged out.")
    return see_other(settings.LOGOUT_REDIRECT_URL)


def signed_out_everywhere_redirect(request):
    """After the dashboard's "Sign out everywhere": the login page, saying what happened."""
    messages.info(request, "You have been signed out everywhere.")
    return see_other(settings.LOGOUT_REDIRECT_URL)


def error_page(request, exc: Exception):
    """The HTML answer, for a form post, to what the API answers in JSON."""
    if isinstance(exc, RateLimitExceeded):
        response = render(request, "429.html", {"retry_after": exc.retry_after}, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, ServiceUnavailable):
        return render(request, "accounts/unavailable.html", status=503)
    if isinstance(exc, exceptions.PermissionDenied) and exc.get_codes() == CSRF_FAILED:
        context = {"cross_site": isinstance(exc, CrossSitePost)}
        return render(request, "403_csrf.html", context, status=403)
    return None


def _next_url(request) -> str:
    """Where to go after login: a same-site ``next``, else the dashboard."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return settings.LOGIN_REDIRECT_URL
