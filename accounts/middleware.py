from django.conf import settings
from django.contrib.auth.middleware import RemoteUserMiddleware

from accounts.proxies import from_trusted_proxy


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
