"""API keys for agents: `Authorization: Api-Key <key>` or `Authorization: Bearer <key>`."""

import time

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from agents.models import AgentAPIKey

SCHEMES = ("api-key", "bearer")


class AgentKeyAuthentication(BaseAuthentication):
    """Checks the key against its hash; a verified key is remembered for
    API_KEY_CACHE_SECONDS (default 5) in this process, so revoking a key takes
    effect within that time and a busy agent costs no query per request."""

    _verified: dict[str, tuple[float, AgentAPIKey]] = {}

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() not in SCHEMES or not key:
            raise exceptions.AuthenticationFailed(
                "Send the key as 'Authorization: Api-Key <key>' or 'Authorization: Bearer <key>'."
            )
        cached = self._verified.get(key)
        if cached and cached[0] > time.monotonic():
            return AnonymousUser(), cached[1]
        prefix = key.partition(".")[0]
        api_key = AgentAPIKey.objects.select_related("agent").filter(prefix=prefix).first()
        if api_key is None or not api_key.is_valid(key):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if api_key.revoked:
            raise exceptions.AuthenticationFailed("This API key was revoked; create a new one.")
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed(
                f"This API key expired on {api_key.expiry_date:%Y-%m-%d}; create a new one."
            )
        ttl = settings.API_KEY_CACHE_SECONDS
        if ttl > 0:
            if len(self._verified) > 1000:
                self._verified.clear()
            self._verified[key] = (time.monotonic() + ttl, api_key)
        return AnonymousUser(), api_key

    def authenticate_header(self, request):
        return 'Api-Key realm="api"'


class HasAgentKey(BasePermission):
    """An agent's own key posts only while the agent is active. The agent's state is the
    one read with the key, so deactivating takes effect within API_KEY_CACHE_SECONDS, as
    revoking does. (An organisation key naming an inactive agent is refused per item.)"""

    message = "Posting signals and costs needs an agent API key."

    def has_permission(self, request, view):
        if not isinstance(request.auth, AgentAPIKey):
            return False
        agent = request.auth.agent
        if agent is not None and not agent.active:
            raise exceptions.PermissionDenied(
                f"Agent {agent.external_id!r} is deactivated; its keys cannot post signals "
                "or costs. Reactivate the agent in the admin to post again."
            )
        return True


class AgentKeyThrottle(SimpleRateThrottle):
    """Requests per API key; the rate comes from settings.API_KEY_THROTTLE_RATE."""

    scope = "agent_key"

    def get_rate(self):
        return settings.API_KEY_THROTTLE_RATE

    def get_cache_key(self, request, view):
        if isinstance(request.auth, AgentAPIKey):
            return f"throttle_agent_key_{request.auth.pk}"
        return None


class AgentKeyScheme(OpenApiAuthenticationExtension):
    target_class = AgentKeyAuthentication
    name = "AgentApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>` or `Bearer <key>`; keys are created in the admin "
            "or with `manage.py create_agent_key`.",
        }
