"""Two-factor sign-in (TOTP with django-otp): enrolment, recovery codes, who must have it.

docs/users.md explains it to users. Codes from the authenticator app and recovery codes are
checked by django-otp's devices; a wrong code after a right password counts as a failed
sign-in for the lockout (django-axes), so codes cannot be guessed without end.
"""

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.utils.safestring import mark_safe
from django_otp import devices_for_user, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODES = 10
# Who signed in through a proxy or an OpenID provider proved a second factor there, if at all.
EXTERNAL_BACKENDS = ("accounts.backends.ProxyRemoteUserBackend", "accounts.backends.RoleMappingOIDCBackend")


def authenticator(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_authenticator(user) -> TOTPDevice:
    """The device being enrolled: created once, confirmed by the first right code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def qr_code_svg(device: TOTPDevice) -> str:
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return mark_safe(image.to_string(encoding="unicode"))  # noqa: S308 -- made here from the device's own URL


def new_recovery_codes(user) -> list[str]:
    """Replace the user's recovery codes; each works once. Shown once, stored by django-otp."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name="recovery", defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def remove_two_factor(user) -> None:
    for device in devices_for_user(user, confirmed=None):
        device.delete()


def has_two_factor(user) -> bool:
    return user_has_device(user, confirmed=True)


def must_enrol_or_verify(request) -> bool:
    """BORGUI_REQUIRE_2FA: a password sign-in without a verified second factor goes no further."""
    user = request.user
    if not settings.BORGUI_REQUIRE_2FA or not user.is_authenticated or user.is_verified():
        return False
    return request.session.get(BACKEND_SESSION_KEY) not in EXTERNAL_BACKENDS
