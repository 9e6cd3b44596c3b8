"""Login and registration limits: per client IP and per normalised email (SPEC §2)."""

from collections.abc import Callable

from identity.limits import Limit, rate_limits_hit


def normalised_email(value) -> str:
    """The email as a rate-limit key: the login form's own normalisation, so case never helps."""
    return value.strip().lower() if isinstance(value, str) else ""


def _email_key(email: str) -> Callable:
    return lambda group, request: email


LOGIN_PER_IP = Limit(group="accounts.login.ip", rate_setting="KEYWARD_LOGIN_RATE_PER_IP")
REGISTER_PER_IP = Limit(group="accounts.register.ip", rate_setting="KEYWARD_REGISTER_RATE_PER_IP")


def _per_email(group: str, email) -> list[Limit]:
    email = normalised_email(email)
    if not email:
        return []
    # SPEC §2 names one per-email rate for login and register; each counts in its own bucket.
    return [Limit(group=group, rate_setting="KEYWARD_LOGIN_RATE_PER_EMAIL", key=_email_key(email))]


def login_rate_limit(request, *, email) -> None:
    """Count a login attempt per client IP and per (normalised) email."""
    rate_limits_hit(request, LOGIN_PER_IP, *_per_email("accounts.login.email", email))


def register_rate_limit(request, *, email) -> None:
    """Count a registration attempt per client IP and per (normalised) email."""
    rate_limits_hit(request, REGISTER_PER_IP, *_per_email("accounts.register.email", email))
