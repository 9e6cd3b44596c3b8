from django.urls import path

from agents import api

urlpatterns = [
    path("agents", api.AgentListView.as_view(), name="agent-list"),
    # str, not uuid: the selector answers a malformed id with the same 404 as a foreign one.
    path("agents/<str:agent_id>", api.AgentDetailView.as_view(), name="agent-detail"),
    path("agents/<str:agent_id>/run", api.AgentRunView.as_view(), name="agent-run"),
]
