"""Failed sign-ins lock a user name and an address (django-axes), behind trusted proxies only
by the address they forward; forged X-Forwarded-For headers from anyone else change nothing."""

from ipaddress import ip_network

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import RequestFactory

from accounts.proxies import client_address
from tests.conftest import PASSWORDS

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"


def sign_in(client, username, password, address="192.0.2.10", **headers):
    return client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address, **headers
    )


def fail(client, username, times, **kwargs):
    for _ in range(times):
        # The failure that reaches the limit is answered with the lockout page already.
        assert sign_in(client, username, "wrong-password", **kwargs).status_code in (200, 429)


@pytest.fixture
def viewer(role_user):
    return role_user("viewer")


@pytest.fixture
def trusted_proxy(settings):
    settings.BORGUI_TRUSTED_PROXIES = [ip_network("10.0.0.2/32"), ip_network("172.18.0.0/16")]


def test_five_failures_lock_the_user_name_with_a_clear_message(client, viewer):
    fail(client, "viewer", 4, address="192.0.2.10")
    assert sign_in(client, "viewer", PASSWORDS["viewer"]).status_code == 302  # 4 failures: still in
    client.logout()
    for address in ("192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14", "192.0.2.15"):
        assert sign_in(client, "viewer", "wrong", address=address).status_code in (200, 429)
    response = sign_in(client, "viewer", PASSWORDS["viewer"], address="198.51.100.7")  # right password, new address
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-ins (5) for this user name or from this" in page
    assert "python manage.py axes_reset" in page


def test_five_failures_from_one_address_lock_that_address_for_every_user_name(client, viewer):
    for username in ("root", "admin", "backup", "test", "guest"):
        sign_in(client, username, "wrong", address="203.0.113.9")
    assert sign_in(client, "viewer", PASSWORDS["viewer"], address="203.0.113.9").status_code == 429
    assert sign_in(client, "viewer", PASSWORDS["viewer"], address="203.0.113.10").status_code == 302


def test_an_admin_unlocks_from_the_admin(client, viewer, admin):
    fail(client, "viewer", 5)
    assert sign_in(client, "viewer", PASSWORDS["viewer"], address="198.51.100.7").status_code == 429
    client.force_login(admin)
    changelist = client.get("/admin/axes/accessattempt/").content.decode()
    assert "viewer" in changelist
    attempts = list(AccessAttempt.objects.filter(username="viewer").values_list("pk", flat=True))
    response = client.post(
        "/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": attempts, "post": "yes"}
    )
    assert response.status_code == 302 and not AccessAttempt.objects.exists()
    client.logout()
    assert sign_in(client, "viewer", PASSWORDS["viewer"], address="198.51.100.7").status_code == 302


def test_axes_reset_unlocks(client, viewer):
    fail(client, "viewer", 5)
    call_command("axes_reset", verbosity=0)
    assert sign_in(client, "viewer", PASSWORDS["viewer"]).status_code == 302


def test_forged_forwarded_for_from_an_untrusted_address_is_ignored(client, viewer, trusted_proxy):
    # A client that is no proxy rotates X-Forwarded-For: its own address is what counts.
    for index in range(5):
        sign_in(client, f"user{index}", "wrong", address="192.0.2.66", HTTP_X_FORWARDED_FOR=f"198.51.100.{index}")
    assert sign_in(client, "viewer", PASSWORDS["viewer"], address="192.0.2.66").status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.66"}


def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, viewer, trusted_proxy):
    for index in range(5):
        sign_in(client, f"user{index}", "wrong", address="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5")
    # The proxy itself is not locked out: only the client it forwarded.
    assert (
        sign_in(
            client, "viewer", PASSWORDS["viewer"], address="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5"
        ).status_code
        == 429
    )
    assert (
        sign_in(
            client, "viewer", PASSWORDS["viewer"], address="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.6"
        ).status_code
        == 302
    )


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("192.0.2.1", "203.0.113.5", "192.0.2.1"),  # not a proxy: its header is ignored
        ("10.0.0.2", "203.0.113.5", "203.0.113.5"),
        ("10.0.0.2", "1.2.3.4, 203.0.113.5", "203.0.113.5"),  # the client prepended a forged hop
        ("10.0.0.2", "203.0.113.5, 172.18.0.3", "203.0.113.5"),  # two trusted proxies in a row
        ("10.0.0.2", "not-an-address", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("::ffff:10.0.0.2", "203.0.113.5", "203.0.113.5"),  # IPv4 proxy on a dual-stack socket
    ],
)
def test_client_address(trusted_proxy, peer, forwarded, expected):
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected
