"""Key creations per user: the API and the pages count in this one bucket."""

from identity.limits import Limit


def key_create_limit(user) -> Limit:
    """Key creations per user: the API and the pages count in this one bucket."""
    return Limit(
        group="apikeys.create.user",
        rate_setting="KEYWARD_KEY_CREATE_RATE_PER_USER",
        key=lambda group, request: str(user.pk),
    )
