"""The two-factor page (/admin/two-factor/): enrol, verify this sign-in, new recovery codes, remove."""

from base64 import b32encode

from django.conf import settings
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp import match_token

from accounts import two_factor
from accounts.forms import CodeForm

WRONG_CODE = "That code is wrong: enter the code your app shows now (check the phone's clock if it keeps failing)."


def two_factor_view(request):
    user = request.user
    device = two_factor.authenticator(user)
    if device is None:
        return _enrol(request)
    if not user.is_verified():
        return _verify(request)
    return _manage(request)


def _page(request, template_name: str, **context):
    context = {
        **admin.site.each_context(request),
        "title": "Two-factor sign-in",
        "require_2fa": settings.BORGUI_REQUIRE_2FA,
        **context,
    }
    return TemplateResponse(request, f"accounts/{template_name}", context)


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return "/admin/"


def _enrol(request):
    device = two_factor.pending_authenticator(request.user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"].strip()):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            return _page(request, "recovery_codes.html", codes=two_factor.new_recovery_codes(request.user),
                         next=_next_url(request))  # fmt: skip
        form.add_error("code", WRONG_CODE)
    secret = b32encode(device.bin_key).decode()
    return _page(request, "enrol.html", form=form, qr_code=two_factor.qr_code_svg(device), secret=secret,
                 next=_next_url(request))  # fmt: skip


def _verify(request):
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = match_token(request.user, form.cleaned_data["code"].strip())
        if device is not None:
            otp_login(request, device)
            return redirect(_next_url(request))
        form.add_error("code", WRONG_CODE)
    return _page(request, "verify.html", form=form, next=_next_url(request))


def _manage(request):
    form = CodeForm(request.POST or None)
    if request.method == "POST" and request.POST.get("do") == "recovery-codes":
        return _page(request, "recovery_codes.html", codes=two_factor.new_recovery_codes(request.user), next="/admin/")
    if request.method == "POST" and request.POST.get("do") == "remove" and form.is_valid():
        # The current code confirms it: a session left open is not enough to remove the second factor.
        if match_token(request.user, form.cleaned_data["code"].strip()) is not None:
            two_factor.remove_two_factor(request.user)
            messages.success(request, "Two-factor sign-in removed.")
            return redirect("two_factor")
        form.add_error("code", WRONG_CODE)
    return _page(request, "manage.html", form=form, codes_left=two_factor.recovery_codes_left(request.user))
