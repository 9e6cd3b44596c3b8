"""SimpleJWT's module-level token backend, replaced by ours.

``simplejwt_state``: ``Token.token_backend`` imports ``rest_framework_simplejwt.state
.token_backend`` by its dotted path, so replacing that one object makes every token class —
SimpleJWT's own included (``AccessToken.for_user``) — sign and verify with ours. SimpleJWT
documents no hook for a backend of one's own, so there is no public path to fall back to and
no off switch: on another SimpleJWT version the object is still replaced (without it no token
is ours), the start-up log says it is unchecked, and ``tests/core/test_fastpath.py`` fails.
"""

from core.fastpath.guard import written_against

SIMPLEJWT_STATE = written_against("simplejwt_state", "djangorestframework-simplejwt", "5.5.1")


def install_token_backend(backend) -> None:
    from rest_framework_simplejwt import state

    state.token_backend = backend
