"""Sign-in backends beside the password: a trusted reverse proxy's user header, OpenID Connect."""

import logging

import requests
from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.backends import RemoteUserBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts import oidc
from accounts.users import prepare_new_user, set_roles

log = logging.getLogger(__name__)


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check (first in AUTHENTICATION_BACKENDS). A sign-in that comes with
    no request (code calling authenticate() directly, the test client's login()) is not a web
    sign-in: the lockout, which counts per address, has nothing to say about it."""

    def authenticate(self, request=None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


class ProxyRemoteUserBackend(RemoteUserBackend):
    """The user the proxy names (accounts.middleware only passes it on from trusted proxies).

    Created on first sign-in in BORGUI_REMOTE_USER_GROUP; an admin may change the groups later.
    """

    create_unknown_user = True

    def configure_user(self, request, user, created=True):
        if created:
            prepare_new_user(user, [settings.BORGUI_REMOTE_USER_GROUP])
        return user


class RoleMappingOIDCBackend(OIDCAuthenticationBackend):
    """OpenID Connect: the user is the provider's preferred_username, in the role groups its
    groups claim names (set again at every sign-in: the provider decides)."""

    get_settings = staticmethod(oidc.get_settings)

    def __init__(self, *args, **kwargs):
        # Instantiated for every sign-in, password ones included: a provider that is down
        # must not stop those.
        try:
            super().__init__(*args, **kwargs)
            self.unavailable = ""
        except oidc.ProviderUnavailable as e:
            self.unavailable = str(e)

    def authenticate(self, request, **kwargs):
        if self.unavailable or request is None or "code" not in request.GET:
            return None
        try:
            return super().authenticate(request, **kwargs)
        except (requests.RequestException, SuspiciousOperation, ValueError, oidc.ProviderUnavailable) as e:
            log.warning("OpenID Connect sign-in failed: %s", e)
            return None

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("the ID token is for another client (aud)")
        issuer = oidc.expected_issuer()
        if issuer is not None and payload.get("iss") != issuer:
            raise SuspiciousOperation(f"the ID token comes from {payload.get('iss')!r}, not {issuer!r}")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        # Some providers put the groups only in the ID token: both count, userinfo last.
        return {**payload, **super().get_userinfo(access_token, id_token, payload)}

    def verify_claims(self, claims):
        reason = oidc.refusal(claims)
        if reason:
            log.warning("OpenID Connect sign-in refused: %s", reason)
        return not reason

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=oidc.username_from_claims(claims))

    def create_user(self, claims):
        user = self.UserModel.objects.create_user(oidc.username_from_claims(claims), email=claims.get("email") or "")
        prepare_new_user(user, oidc.roles_from_claims(claims))
        return user

    def update_user(self, user, claims):
        set_roles(user, oidc.roles_from_claims(claims))
        return user
