"""System checks of the accounts app: the JWT keys can be read (``accounts.signing``)."""

from django.core import checks

from accounts.signing import configuration_error


@checks.register(checks.Tags.security)
def check_jwt_keys(app_configs=None, **kwargs):
    """An error, at start-up, for a JWT key that every token request would otherwise fail on."""
    problem = configuration_error()
    if problem is None:
        return []
    return [
        checks.Error(
            problem,
            hint="See README.md (KEYWARD_JWT_*) and docs/oauth.md, Verifying tokens offline.",
            id="keyward.E012",
        )
    ]
