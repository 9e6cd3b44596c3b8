from django.urls import path

from ops.api import MetricsView, StatusView

urlpatterns = [
    path("status", StatusView.as_view(), name="status"),
    path("metrics", MetricsView.as_view(), name="metrics"),
]
