"""The sign-in pages beside the admin's own (included by borgui/urls.py before the admin)."""

from django.contrib import admin
from django.urls import path
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.forms import AdminLoginForm
from accounts.oidc import get_settings, guarded
from accounts.views import two_factor_view


class AuthenticationRequestView(OIDCAuthenticationRequestView):
    get_settings = staticmethod(get_settings)


class AuthenticationCallbackView(OIDCAuthenticationCallbackView):
    get_settings = staticmethod(get_settings)


admin.site.login_form = AdminLoginForm
admin.site.login_template = "accounts/login.html"

urlpatterns = [
    path("admin/two-factor/", admin.site.admin_view(two_factor_view), name="two_factor"),
    # The names mozilla-django-oidc reverses.
    path("oidc/authenticate/", guarded(AuthenticationRequestView.as_view()), name="oidc_authentication_init"),
    path("oidc/callback/", guarded(AuthenticationCallbackView.as_view()), name="oidc_authentication_callback"),
]
