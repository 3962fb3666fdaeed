"""Sign-in backends beside the password: a trusted reverse proxy's user header, OpenID Connect."""

from django.conf import settings
from django.contrib.auth.backends import RemoteUserBackend

from accounts.users import prepare_new_user


class ProxyRemoteUserBackend(RemoteUserBackend):
    """The user the proxy names (accounts.middleware only passes it on from trusted proxies).

    Created on first sign-in in BORGUI_REMOTE_USER_GROUP; an admin may change the groups later.
    """

    create_unknown_user = True

    def configure_user(self, request, user, created=True):
        if created:
            prepare_new_user(user, [settings.BORGUI_REMOTE_USER_GROUP])
        return user
