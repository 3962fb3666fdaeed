"""OpenID Connect sign-in (mozilla-django-oidc), with the provider's endpoints from its
discovery document and its groups claim mapped to the role groups (docs/users.md).

mozilla-django-oidc reads the four endpoints from settings and has no discovery of its own:
``get_settings`` below answers them from BORGUI_OIDC_DISCOVERY_URL, read once per process
(at the web process's start, see borgui/wsgi.py) and cached; a provider that cannot be
reached is asked again after a minute, and meanwhile password sign-in works as before.
"""

import logging
import re
import time

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import redirect
from mozilla_django_oidc.utils import import_from_settings

from accounts.roles import Role

log = logging.getLogger(__name__)
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
RETRY_SECONDS = 60
USERNAME = re.compile(r"\A[\w.@+-]{1,150}\Z")
_provider: dict = {"configuration": None, "failed_at": None, "error": ""}


class ProviderUnavailable(Exception):
    pass


def provider_configuration() -> dict:
    if _provider["configuration"] is not None:
        return _provider["configuration"]
    if _provider["failed_at"] and time.monotonic() - _provider["failed_at"] < RETRY_SECONDS:
        raise ProviderUnavailable(_provider["error"])
    url = settings.BORGUI_OIDC_DISCOVERY_URL
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
        missing = [key for key in (*DISCOVERED.values(), "issuer") if not document.get(key)]
        if missing:
            raise ValueError(f"it names no {', '.join(missing)}")
    except (requests.RequestException, ValueError) as e:
        _provider.update(failed_at=time.monotonic(), error=f"OpenID provider discovery at {url} failed: {e}")
        raise ProviderUnavailable(_provider["error"]) from None
    _provider.update(configuration=document, failed_at=None, error="")
    return document


def forget_provider() -> None:
    _provider.update(configuration=None, failed_at=None, error="")


def discover_at_start() -> None:
    if settings.BORGUI_OIDC_ENABLED and settings.BORGUI_OIDC_DISCOVERY_URL:
        try:
            provider_configuration()
        except ProviderUnavailable as e:
            log.error("%s; sign-in with it is tried again when someone uses it", e)


def get_settings(attr, *args):
    if attr in DISCOVERED and settings.BORGUI_OIDC_DISCOVERY_URL:
        return provider_configuration()[DISCOVERED[attr]]
    return import_from_settings(attr, *args)


def expected_issuer() -> str | None:
    return provider_configuration()["issuer"] if settings.BORGUI_OIDC_DISCOVERY_URL else None


def roles_from_claims(claims: dict) -> set[Role]:
    values = claims.get(settings.BORGUI_OIDC_GROUPS_CLAIM) or []
    if isinstance(values, str):
        values = [values]
    return {Role(value) for value in values if isinstance(value, str) and value in Role.values}


def username_from_claims(claims: dict) -> str:
    name = claims.get("preferred_username") or claims.get("email") or ""
    return name if isinstance(name, str) and USERNAME.match(name) else ""


def refusal(claims: dict) -> str:
    """Why these claims may not sign in, or "" when they may."""
    username = username_from_claims(claims)
    if not username:
        return "the provider gave no usable user name (preferred_username or email)"
    if not roles_from_claims(claims):
        return (
            f"{username} is in none of the groups viewer, operator or admin "
            f"(claim {settings.BORGUI_OIDC_GROUPS_CLAIM!r})"
        )
    local = get_user_model().objects.filter(username=username).first()
    if local is not None and (local.is_superuser or local.has_usable_password()):
        return f"{username} is a local borgui account (it has a password): it does not sign in through the provider"
    return ""


def guarded(view):
    """The library's views, only when OIDC is set up, and with a message instead of an error
    page when the provider cannot be reached."""

    def wrapped(request, *args, **kwargs):
        if not settings.BORGUI_OIDC_ENABLED:
            raise Http404("OpenID Connect sign-in is not set up (BORGUI_OIDC_CLIENT_ID).")
        try:
            return view(request, *args, **kwargs)
        except ProviderUnavailable as e:
            messages.error(request, f"{e}. Sign in with your password, or try again later.")
            return redirect("admin:login")

    return wrapped
