from django.urls import path
from knox.auth import TokenAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_api_key.permissions import HasAPIKey
from rest_framework_simplejwt.authentication import JWTAuthentication


class Health(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"status": "ok"})


class ApiKeyPeer(APIView):
    authentication_classes = []
    permission_classes = [HasAPIKey]

    def get(self, request):
        return Response({"valid": True})


class KnoxPeer(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"valid": True, "user": request.user.pk})


class JwtPeer(APIView):
    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"valid": True, "user": request.user.pk})


urlpatterns = [
    path("health", Health.as_view()),
    path("apikey", ApiKeyPeer.as_view()),
    path("knox", KnoxPeer.as_view()),
    path("jwt", JwtPeer.as_view()),
]
