"""The project's URLs with ``handler400`` wired to ``core.views.bad_request``."""

from config.urls import handler404, handler500, urlpatterns  # noqa: F401

handler400 = "core.views.bad_request"
