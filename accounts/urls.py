"""The sign-in pages beside the admin's own (included by borgui/urls.py before the admin)."""

from django.contrib import admin
from django.urls import path

from accounts.forms import AdminLoginForm
from accounts.views import two_factor_view

admin.site.login_form = AdminLoginForm
admin.site.login_template = "accounts/login.html"

urlpatterns = [
    path("admin/two-factor/", admin.site.admin_view(two_factor_view), name="two_factor"),
]
