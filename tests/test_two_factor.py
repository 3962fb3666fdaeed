"""Two-factor sign-in: enrolment with a QR code made here, TOTP codes computed by the test
(RFC 6238, independently of django-otp), recovery codes, and BORGUI_REQUIRE_2FA."""

import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import PASSWORDS

pytestmark = pytest.mark.django_db
PAGE = "/admin/two-factor/"


def totp(secret: str, at: float | None = None) -> str:
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def sign_in(client, username, code=""):
    data = {"username": username, "password": PASSWORDS[username], "otp_token": code, "next": "/admin/"}
    return client.post("/admin/login/", data, REMOTE_ADDR="192.0.2.20")


def enrol(client) -> tuple[str, list[str]]:
    page = client.get(PAGE).content.decode()
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    done = client.post(PAGE, {"code": totp(secret)}).content.decode()
    return secret, re.findall(r"<li>([a-z0-9]{8})</li>", done)


@pytest.fixture
def operator(role_user):
    return role_user("operator")


@pytest.fixture(autouse=True)
def codes_without_delay(settings):
    # django-otp makes a device wait 1, 2, 4… s after each wrong code; these tests try a right
    # code straight after a wrong one. The lockout test below counts wrong codes all the same.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def test_enrolment_shows_a_qr_code_made_here_and_gives_recovery_codes(client, operator):
    assert sign_in(client, "operator").status_code == 302
    page = client.get(PAGE).content.decode()
    assert "<svg" in page and "<img" not in page.split('id="qr-code"')[1].split("</div>")[0]  # inline, no fetch
    assert "Turn on two-factor" in page
    assert client.post(PAGE, {"code": "000000"}).status_code == 200
    assert not TOTPDevice.objects.filter(user=operator, confirmed=True).exists()
    secret, codes = enrol(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert TOTPDevice.objects.filter(user=operator, confirmed=True).count() == 1
    assert "10 unused recovery codes" in client.get(PAGE).content.decode()


def test_signing_in_then_needs_the_current_code(client, operator):
    sign_in(client, "operator")
    secret, _ = enrol(client)
    client.logout()
    response = sign_in(client, "operator")
    assert response.status_code == 200
    assert "enter the current code from your authenticator app" in response.content.decode()
    assert "wrong or used up" in sign_in(client, "operator", "123456").content.decode()
    # The enrolment used this 30-second step's code: a code is good once, so sign in with the next one.
    assert sign_in(client, "operator", totp(secret, time.time() + 30)).status_code == 302
    assert client.get("/admin/").status_code == 200
    assert client.get(PAGE).content.decode().count('id="two-factor-on"') == 1


def test_a_recovery_code_signs_in_once(client, operator):
    sign_in(client, "operator")
    _, codes = enrol(client)
    client.logout()
    assert sign_in(client, "operator", codes[0]).status_code == 302
    client.logout()
    assert sign_in(client, "operator", codes[0]).status_code == 200
    assert sign_in(client, "operator", codes[1]).status_code == 302


def test_wrong_codes_count_towards_the_lockout(client, operator):
    sign_in(client, "operator")
    secret, _ = enrol(client)
    client.logout()
    for _ in range(5):
        sign_in(client, "operator", "000000")
    assert sign_in(client, "operator", totp(secret, time.time() + 30)).status_code == 429


def test_required_two_factor_sends_a_new_user_to_enrolment_first(client, operator, settings):
    settings.BORGUI_REQUIRE_2FA = True
    assert sign_in(client, "operator").status_code == 302
    for url in ("/admin/", "/admin/repositories/backupplan/", "/admin/system/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(f"{PAGE}?next="), url
    assert "Two-factor sign-in is required here" in client.get(PAGE).content.decode()
    enrol(client)
    assert client.get("/admin/repositories/backupplan/").status_code == 200


def test_required_two_factor_asks_an_unverified_session_for_a_code(client, operator, settings):
    sign_in(client, "operator")
    secret, _ = enrol(client)
    settings.BORGUI_REQUIRE_2FA = True
    client.logout()
    client.force_login(operator)  # signed in without the second factor
    assert client.get("/admin/").status_code == 302
    response = client.post(PAGE, {"code": totp(secret, time.time() + 30), "next": "/admin/hooks/script/"})
    assert response.status_code == 302 and response["Location"] == "/admin/hooks/script/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("next_url", ["https://evil.example/x", "//evil.example/x", "/\\evil.example"])
def test_the_code_page_never_sends_the_browser_to_another_site(client, operator, settings, next_url):
    sign_in(client, "operator")
    secret, _ = enrol(client)
    settings.BORGUI_REQUIRE_2FA = True
    client.logout()
    client.force_login(operator)
    response = client.post(PAGE, {"code": totp(secret, time.time() + 30), "next": next_url})
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_removing_two_factor_needs_the_current_code(client, operator):
    sign_in(client, "operator")
    secret, _ = enrol(client)
    client.post(PAGE, {"do": "remove", "code": "000000"})
    assert TOTPDevice.objects.filter(user=operator).exists()
    client.post(PAGE, {"do": "remove", "code": totp(secret, time.time() + 30)})
    assert not TOTPDevice.objects.filter(user=operator).exists()
    assert sign_in(client, "operator").status_code == 302  # no code needed any more


def test_an_outsider_never_reaches_the_page(client, outsider):
    response = client.get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_required_two_factor_leaves_proxy_and_provider_sign_ins_to_them(client, operator, settings):
    # The proxy or the OpenID provider asked for the second factor, if at all (docs/users.md).
    settings.BORGUI_REQUIRE_2FA = True
    backend = "accounts.backends.ProxyRemoteUserBackend"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, backend]
    client.force_login(operator, backend=backend)
    assert client.get("/admin/").status_code == 200
    client.force_login(operator, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/admin/").status_code == 302
