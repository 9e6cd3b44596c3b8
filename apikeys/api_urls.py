from django.urls import path

from apikeys import api, secret_scanning_api, shadow_api, verify_api

# Listed first in ``config.urls``: the endpoints a gateway calls in front of every request.
hot_urlpatterns = [
    path("auth/check", verify_api.AuthCheckView.as_view(), name="auth-check"),
    path("keys/verify", verify_api.KeyVerifyView.as_view(), name="key-verify"),
]

# str, not uuid: a malformed id answers the same 404 as a key out of reach.
urlpatterns = [
    path("user/api-keys", api.ApiKeyListView.as_view(), name="apikey-list"),
    path("user/api-keys/<str:key_id>", api.ApiKeyDetailView.as_view(), name="apikey-detail"),
    path("user/api-keys/<str:key_id>/revoke", api.ApiKeyRevokeView.as_view(), name="apikey-revoke"),
    path(
        "user/api-keys/<str:key_id>/activate",
        api.ApiKeyActivateView.as_view(),
        name="apikey-activate",
    ),
    path("user/api-keys/<str:key_id>/rotate", api.ApiKeyRotateView.as_view(), name="apikey-rotate"),
    path("user/api-keys/<str:key_id>/usage", api.ApiKeyUsageView.as_view(), name="apikey-usage"),
    path(
        "user/api-keys/<str:key_id>/proposals",
        shadow_api.ProposalListView.as_view(),
        name="apikey-proposals",
    ),
    path(
        "user/api-keys/<str:key_id>/proposals/<str:proposal_id>",
        shadow_api.ProposalDetailView.as_view(),
        name="apikey-proposal",
    ),
    path(
        "user/api-keys/<str:key_id>/proposals/<str:proposal_id>/apply",
        shadow_api.ProposalApplyView.as_view(),
        name="apikey-proposal-apply",
    ),
    path(
        "user/api-keys/<str:key_id>/suggestion",
        shadow_api.SuggestionView.as_view(),
        name="apikey-suggestion",
    ),
    path("api-keys/info", api.ApiKeyInfoView.as_view(), name="apikey-info"),
    path("api-keys/bootstrap", api.BootstrapView.as_view(), name="apikey-bootstrap"),
    path(
        "secret-scanning/reports",
        secret_scanning_api.SecretScanningReportView.as_view(),
        name="secret-scanning-reports",
    ),
]
