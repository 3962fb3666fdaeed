"""OpenID Connect sign-in against a small OpenID provider on loopback (tests/harness/oidc_provider.py):
discovery, the authorization code flow over real HTTP, RS256 ID tokens checked against the
provider's JWKS, and the groups claim mapped to the role groups."""

from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.contrib.auth import get_user_model

from accounts import oidc
from tests.harness.oidc_provider import OpenIDProvider

pytestmark = pytest.mark.django_db
CLIENT_ID, CLIENT_SECRET = "borgui", "client-secret-4k9v2"


@pytest.fixture(scope="module")
def provider():
    provider = OpenIDProvider(CLIENT_ID, CLIENT_SECRET).start()
    yield provider
    provider.stop()


@pytest.fixture
def oidc_on(settings, provider):
    # What borgui/settings.py sets for BORGUI_OIDC_CLIENT_ID, _SECRET and _DISCOVERY_URL.
    settings.BORGUI_OIDC_ENABLED = True
    settings.BORGUI_OIDC_DISCOVERY_URL = provider.discovery_url
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.OIDC_USE_PKCE = True
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "accounts.backends.RoleMappingOIDCBackend"]
    oidc.forget_provider()
    yield settings
    oidc.forget_provider()


def sign_in_with_provider(client, provider, next_url="/admin/repositories/backupplan/", **claims):
    provider.user = {"sub": claims.get("preferred_username", "x"), **claims}
    start = client.get("/oidc/authenticate/", {"next": next_url})
    assert start.status_code == 302 and start["Location"].startswith(f"{provider.url}/authorize?")
    query = parse_qs(urlparse(start["Location"]).query)
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    back = requests.get(start["Location"], allow_redirects=False, timeout=10)  # the browser at the provider
    assert back.status_code == 302
    callback = urlparse(back.headers["Location"])
    return client.get(f"{callback.path}?{callback.query}")


def test_a_user_signs_in_and_lands_in_the_mapped_group(client, provider, oidc_on):
    response = sign_in_with_provider(
        client, provider, preferred_username="carol", email="carol@example.com", groups=["staff", "operator"]
    )
    assert response.status_code == 302 and response["Location"] == "/admin/repositories/backupplan/"
    carol = get_user_model().objects.get(username="carol")
    assert carol.is_staff and not carol.is_superuser and not carol.has_usable_password()
    assert list(carol.groups.values_list("name", flat=True)) == ["operator"]
    assert client.get("/admin/repositories/backupplan/").status_code == 200
    assert client.get("/admin/hooks/script/add/").status_code == 403  # an operator adds no scripts


@pytest.mark.parametrize("next_url", ["https://evil.example/x", "//evil.example/x", "/\\evil.example"])
def test_after_the_provider_the_browser_never_goes_to_another_site(client, provider, oidc_on, next_url):
    response = sign_in_with_provider(client, provider, next_url, preferred_username="gina", groups=["viewer"])
    assert response.status_code == 302
    assert response["Location"].startswith("/") and "evil.example" not in response["Location"]


def test_the_provider_decides_the_groups_at_every_sign_in(client, provider, oidc_on):
    sign_in_with_provider(client, provider, preferred_username="dave", groups=["admin"])
    client.logout()
    sign_in_with_provider(client, provider, preferred_username="dave", groups=["viewer"])
    dave = get_user_model().objects.get(username="dave")
    assert list(dave.groups.values_list("name", flat=True)) == ["viewer"]


def test_the_groups_claim_is_configurable(client, provider, oidc_on):
    oidc_on.BORGUI_OIDC_GROUPS_CLAIM = "roles"
    sign_in_with_provider(client, provider, preferred_username="erin", roles="admin", groups=["viewer"])
    assert list(get_user_model().objects.get(username="erin").groups.values_list("name", flat=True)) == ["admin"]


def test_a_user_in_no_role_group_is_refused(client, provider, oidc_on):
    response = sign_in_with_provider(client, provider, preferred_username="frank", groups=["staff"])
    assert response.status_code == 302 and response["Location"] == "/admin/login/?oidc=failed"
    assert not get_user_model().objects.filter(username="frank").exists()
    assert "did not\n  work" in client.get(response["Location"]).content.decode()


def test_a_local_account_is_not_taken_over(client, provider, oidc_on, admin):
    response = sign_in_with_provider(client, provider, preferred_username="admin", groups=["viewer"])
    assert response["Location"] == "/admin/login/?oidc=failed"
    assert client.get("/admin/").status_code == 302


def test_a_forged_callback_signs_nobody_in(client, provider, oidc_on):
    client.get("/oidc/authenticate/")
    response = client.get("/oidc/callback/?code=made-up&state=made-up")
    assert response.status_code in (302, 400)
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("misbehaviour", ["signing_key", "audience"])
def test_an_id_token_not_signed_by_the_provider_or_for_another_client_is_refused(
    client, provider, oidc_on, misbehaviour
):
    from cryptography.hazmat.primitives.asymmetric import rsa

    forged = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) if misbehaviour == "signing_key" else "other"
    )
    setattr(provider, misbehaviour, forged)
    try:
        response = sign_in_with_provider(client, provider, preferred_username="grace", groups=["admin"])
    finally:
        setattr(provider, misbehaviour, None)
    assert response["Location"] == "/admin/login/?oidc=failed"
    assert not get_user_model().objects.filter(username="grace").exists()


def test_the_login_page_offers_the_provider_only_when_set_up(client, oidc_on, settings):
    assert 'id="oidc-sign-in"' in client.get("/admin/login/").content.decode()
    settings.BORGUI_OIDC_ENABLED = False
    assert 'id="oidc-sign-in"' not in client.get("/admin/login/").content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404


def test_a_provider_that_cannot_be_reached_leaves_password_sign_in_working(client, oidc_on, admin):
    from tests.conftest import PASSWORDS

    oidc_on.BORGUI_OIDC_DISCOVERY_URL = "http://127.0.0.1:9/.well-known/openid-configuration"
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 302 and response["Location"] == "/admin/login/"
    assert "OpenID provider discovery at http://127.0.0.1:9/" in client.get("/admin/login/").content.decode()
    response = client.post("/admin/login/", {"username": "admin", "password": PASSWORDS["admin"], "next": "/admin/"})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
