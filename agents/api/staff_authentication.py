"""Staff tokens: `Authorization: Token <key>`, checked against the key's hash."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from agents.models import StaffAPIKey


class StaffTokenAuthentication(BaseAuthentication):
    """The user of a valid, unrevoked, unexpired staff token (the key is stored hashed,
    unlike DRF's authtoken, whose table holds usable keys in plaintext)."""

    keyword = "token"

    def authenticate(self, request):
        scheme, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != self.keyword:
            return None
        key = key.strip()
        prefix = key.partition(".")[0]
        token = StaffAPIKey.objects.select_related("user").filter(prefix=prefix).first()
        if not key or token is None or not token.is_valid(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.revoked:
            raise exceptions.AuthenticationFailed("This token was revoked; create a new one.")
        if token.has_expired:
            raise exceptions.AuthenticationFailed(
                f"This token expired on {token.expiry_date:%Y-%m-%d}; create a new one."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is inactive.")
        return token.user, token

    def authenticate_header(self, request):
        return "Token"


class StaffTokenScheme(OpenApiAuthenticationExtension):
    target_class = StaffTokenAuthentication
    name = "StaffToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`; created with `manage.py create_staff_token USER`.",
        }
