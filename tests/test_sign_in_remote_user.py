"""Sign-in by an authenticating reverse proxy: its user header counts from BORGUI_TRUSTED_PROXIES
only; users appear on first sign-in in BORGUI_REMOTE_USER_GROUP."""

from ipaddress import ip_network

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured

from borgui.env import env_choice, env_header

pytestmark = pytest.mark.django_db
PROXY, STRANGER = "10.0.0.2", "192.0.2.5"


@pytest.fixture
def proxy_sign_in(settings):
    # What borgui/settings.py sets up when BORGUI_REMOTE_USER_HEADER=Remote-User.
    settings.BORGUI_TRUSTED_PROXIES = [ip_network(f"{PROXY}/32")]
    settings.BORGUI_REMOTE_USER_HEADER = "HTTP_REMOTE_USER"
    settings.BORGUI_REMOTE_USER_GROUP = "viewer"
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
        "accounts.middleware.TrustedRemoteUserMiddleware",
    )
    settings.MIDDLEWARE = middleware
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "accounts.backends.ProxyRemoteUserBackend"]
    return settings


def test_the_proxy_signs_a_new_user_in_as_a_viewer(client, proxy_sign_in):
    response = client.get("/admin/", REMOTE_ADDR=PROXY, HTTP_REMOTE_USER="alice")
    assert response.status_code == 200
    assert "alice" in response.content.decode()
    alice = get_user_model().objects.get(username="alice")
    assert alice.is_staff and not alice.is_superuser and not alice.has_usable_password()
    assert list(alice.groups.values_list("name", flat=True)) == ["viewer"]
    # A viewer: plans yes, the System page no.
    assert client.get("/admin/repositories/backupplan/", REMOTE_ADDR=PROXY, HTTP_REMOTE_USER="alice").status_code == 200
    assert client.get("/admin/system/", REMOTE_ADDR=PROXY, HTTP_REMOTE_USER="alice").status_code == 403


def test_the_default_group_is_configurable(client, proxy_sign_in):
    proxy_sign_in.BORGUI_REMOTE_USER_GROUP = "operator"
    client.get("/admin/", REMOTE_ADDR=PROXY, HTTP_REMOTE_USER="bob")
    assert list(get_user_model().objects.get(username="bob").groups.values_list("name", flat=True)) == ["operator"]


def test_a_forged_header_from_an_untrusted_address_is_ignored(client, proxy_sign_in, admin):
    for username in ("mallory", "admin"):  # a new name, and the superuser's
        response = client.get("/admin/", REMOTE_ADDR=STRANGER, HTTP_REMOTE_USER=username)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_a_forged_header_through_a_proxy_that_is_not_trusted_is_ignored(client, proxy_sign_in):
    # X-Forwarded-For naming the trusted proxy does not make the sender one.
    response = client.get("/admin/", REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_FOR=PROXY, HTTP_REMOTE_USER="mallory")
    assert response.status_code == 302
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_a_proxy_session_ends_when_a_request_comes_without_the_proxy(client, proxy_sign_in):
    assert client.get("/admin/", REMOTE_ADDR=PROXY, HTTP_REMOTE_USER="alice").status_code == 200
    # The same session cookie, straight from elsewhere (the proxy bypassed): signed out.
    assert client.get("/admin/", REMOTE_ADDR=STRANGER, HTTP_REMOTE_USER="alice").status_code == 302


def test_password_sign_in_still_works_beside_the_proxy(client, proxy_sign_in, admin):
    from tests.conftest import PASSWORDS

    response = client.post(
        "/admin/login/", {"username": "admin", "password": PASSWORDS["admin"], "next": "/admin/"}, REMOTE_ADDR=STRANGER
    )
    assert response.status_code == 302
    assert client.get("/admin/", REMOTE_ADDR=STRANGER).status_code == 200


def test_header_and_group_settings_fail_loudly(monkeypatch):
    monkeypatch.setenv("X_HEADER", "Remote-User")
    assert env_header("X_HEADER") == "HTTP_REMOTE_USER"
    monkeypatch.setenv("X_HEADER", "Remote User")
    with pytest.raises(ImproperlyConfigured, match="is not an HTTP header name"):
        env_header("X_HEADER")
    monkeypatch.setenv("X_GROUP", "root")
    with pytest.raises(ImproperlyConfigured, match="X_GROUP='root' is not one of viewer, operator, admin"):
        env_choice("X_GROUP", "viewer", ("viewer", "operator", "admin"))
