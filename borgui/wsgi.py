"""WSGI entry point for gunicorn (``gunicorn borgui.wsgi``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "borgui.settings")
application = get_wsgi_application()

from accounts.oidc import discover_at_start  # noqa: E402 -- needs the settings loaded above

discover_at_start()  # the web process reads the OpenID provider's endpoints at start
