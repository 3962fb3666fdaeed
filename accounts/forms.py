from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django_otp import match_token

from accounts.two_factor import has_two_factor

CODE_WIDGET = forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 12})


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's sign-in: user name and password, and the two-factor code of accounts that have one."""

    otp_token = forms.CharField(
        label="Two-factor code",
        required=False,
        widget=CODE_WIDGET,
        help_text="From your authenticator app, or one of your recovery codes. Empty if you have no two-factor.",
    )

    def clean(self):
        cleaned_data = super().clean()
        user = self.get_user()
        if user is None or not has_two_factor(user):
            return cleaned_data
        token = (cleaned_data.get("otp_token") or "").strip()
        device = match_token(user, token) if token else None
        if device is None:
            # Counted like a wrong password: the lockout also stops guessing codes.
            user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=self.request)
            raise ValidationError(
                "This account signs in with a two-factor code: enter the current code from your authenticator "
                "app, or an unused recovery code."
                if not token
                else "That two-factor code is wrong or used up.",
                code="invalid_token",
            )
        user.otp_device = device  # django-otp marks the session verified when it signs in
        return cleaned_data


class CodeForm(forms.Form):
    code = forms.CharField(label="Code", max_length=16, widget=CODE_WIDGET)
