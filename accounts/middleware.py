from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.middleware import RemoteUserMiddleware
from django.shortcuts import redirect
from django.urls import reverse

from accounts.proxies import from_trusted_proxy
from accounts.two_factor import must_enrol_or_verify


class TrustedRemoteUserMiddleware(RemoteUserMiddleware):
    """Signs in the user named in BORGUI_REMOTE_USER_HEADER, only on requests that come
    straight from BORGUI_TRUSTED_PROXIES (docs/users.md). From anyone else the header is
    removed before anything reads it: any client can send it."""

    async_capable = False

    def __init__(self, get_response):
        super().__init__(get_response)
        self.header = settings.BORGUI_REMOTE_USER_HEADER

    def process_request(self, request):
        if self.header in request.META and not from_trusted_proxy(request):
            del request.META[self.header]
        super().process_request(request)


class TwoFactorRequiredMiddleware:
    """BORGUI_REQUIRE_2FA: until the second factor is verified, every page but the two-factor
    page (and signing out) leads to it: enrolment for a user without an authenticator yet."""

    ALLOWED = {"two_factor", "admin:logout", "admin:login", "admin:jsi18n", "healthz"}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match is None or match.view_name in self.ALLOWED or not must_enrol_or_verify(request):
            return None
        return redirect(f"{reverse('two_factor')}?{urlencode({'next': request.get_full_path()})}")
