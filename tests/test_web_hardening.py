"""Web hardening (docs/security.md, "Web hardening"): CSRF on every POST, the security headers
and a Content-Security-Policy without inline scripts on every admin page (crawled as the
superuser), static files still served, session fixation and open redirects at sign-in (the
two-factor and OpenID Connect flows' own next: tests/test_two_factor.py, tests/test_sign_in_oidc.py)."""

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from archives.models import Archive, RestoreJob
from hooks.models import ScriptExecution
from maintenance.models import MaintenanceJob
from tests.conftest import PASSWORDS
from tests.hostilekit import make_world

pytestmark = pytest.mark.django_db

EVIL = "https://evil.example/phish"
# Where the admin's URL converters take any value: a value that matches each of them.
SAMPLE_ARGUMENTS = ("1", "check", "repositories")
# POSTs answered before the CSRF check, on purpose: the health check (it changes nothing).
NO_CSRF = {"healthz"}


def _named_patterns(patterns=None, namespace=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _named_patterns(pattern.url_patterns, pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield (f"{namespace}:{pattern.name}" if namespace else pattern.name), pattern


def _sample_url(name: str, pattern: URLPattern) -> str:
    keys = list(pattern.pattern.regex.groupindex)
    for value in SAMPLE_ARGUMENTS:
        try:
            return reverse(name, kwargs={key: value for key in keys})
        except Exception:  # noqa: BLE001 - the next sample value may fit the converter
            continue
    raise AssertionError(f"no sample URL for {name}")


def every_url() -> dict[str, str]:
    return {name: _sample_url(name, pattern) for name, pattern in _named_patterns()}


@pytest.fixture
def signed_in(admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    return client


def test_every_post_without_a_csrf_token_is_refused(signed_in):
    urls = every_url()
    assert len(urls) > 100  # the walk found the admin's URLs, not only ours
    answered = {name: signed_in.post(url, {"name": "x"}).status_code for name, url in urls.items()}
    assert {name: status for name, status in answered.items() if status != 403 and name not in NO_CSRF} == {}


def test_a_post_with_a_token_from_another_session_is_refused(signed_in, admin):
    other = Client(enforce_csrf_checks=True)
    other.get(reverse("admin:login"))
    token = other.cookies["csrftoken"].value
    response = signed_in.post(reverse("admin:repositories_repository_add"), {"csrfmiddlewaretoken": token, "name": "x"})
    assert response.status_code == 403


def test_signing_in_needs_a_csrf_token():
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("admin:login"), {"username": "admin", "password": PASSWORDS["admin"]})
    assert response.status_code == 403


# --- headers and inline scripts on every admin page ---------------------------------------------


class _Page(HTMLParser):
    """The links of a page, and what in it would need 'unsafe-inline' to run."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.inline.append(f"<{tag} {name}=…>")
            if name in ("href", "src", "action", "formaction") and re.match(r"\s*javascript:", value or "", re.I):
                self.inline.append(f"<{tag} {name}=javascript:…>")
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        # A data block (application/json) is never run; anything else without src is a script.
        if tag == "script" and not attributes.get("src"):
            if attributes.get("type") not in ("application/json", "text/template"):
                self._in_script = True
                self.inline.append(f"<script id={attributes.get('id')!r}> without src")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


@pytest.fixture
def full_world(tmp_path, admin):
    """One of each object the admin shows, so that every change page is crawled."""
    world = make_world(tmp_path)
    archive = Archive.objects.create(repository=world["repository"], name="nightly-1", plan=world["plan"])
    RestoreJob.objects.create(
        repository=world["repository"], archive_name=archive.name, target=str(tmp_path / "r"), requested_by=admin
    )
    ScriptExecution.objects.create(script=world["script"], script_name="hello", hook_type="test", stdout="<b>x</b>")
    MaintenanceJob.objects.create(kind="check", repository=world["repository"], trigger="admin", target="main")
    return world


# Pages a GET would change or that answer with a file: not crawled.
NOT_CRAWLED = re.compile(r"/logout/|/download/|/delete/$")
MAX_PAGES = 400


def crawl(client, start: str = "/admin/") -> dict[str, object]:
    """Every admin page reachable by links from START (query strings dropped): URL → response."""
    seen, queue, pages = {start}, [start], {}
    while queue and len(pages) < MAX_PAGES:
        url = queue.pop(0)
        response = client.get(url)
        pages[url] = response
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        page = _Page()
        page.feed(response.content.decode())
        response.inline_scripts = page.inline
        for link in page.links:
            parts = urlsplit(urljoin(url, link))
            path = parts.path
            if parts.netloc or not path.startswith("/admin/") or NOT_CRAWLED.search(path) or path in seen:
                continue
            seen.add(path)
            queue.append(path)
    return pages


def test_every_admin_page_sends_the_security_headers_and_has_no_inline_script(signed_in, full_world):
    pages = crawl(signed_in)
    html_pages = {url: r for url, r in pages.items() if r.status_code == 200 and "text/html" in r["Content-Type"]}
    assert len(html_pages) > 60, sorted(pages)
    problems = []
    for url, response in html_pages.items():
        policy = response.get("Content-Security-Policy", "")
        directives = dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";") if part.strip())
        if response.get("X-Frame-Options") != "DENY":
            problems.append(f"{url}: X-Frame-Options {response.get('X-Frame-Options')}")
        if response.get("X-Content-Type-Options") != "nosniff":
            problems.append(f"{url}: no X-Content-Type-Options: nosniff")
        if response.get("Referrer-Policy") != "same-origin":
            problems.append(f"{url}: Referrer-Policy {response.get('Referrer-Policy')}")
        if directives.get("script-src") != "'self'" or directives.get("frame-ancestors") != "'none'":
            problems.append(f"{url}: Content-Security-Policy {policy!r}")
        problems += [f"{url}: {found}" for found in response.inline_scripts]
    assert problems == []


def test_the_policy_refuses_inline_scripts_and_other_origins(client):
    policy = client.get(reverse("admin:login"))["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "object-src 'none'" in policy and "form-action 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";")[0]
    assert "unsafe-eval" not in policy


@pytest.mark.parametrize(
    "path, content_type",
    [("/static/admin/css/base.css", "text/css"), ("/static/packages_admin/package-log.js", "text/javascript")],
)
def test_static_files_are_served_with_nosniff(client, path, content_type):
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content)


# --- sign-in: session fixation and open redirects --------------------------------------------


def _sign_in(client, next_url: str = "/admin/"):
    client.get(reverse("admin:login"))
    token = client.cookies["csrftoken"].value
    data = {"username": "admin", "password": PASSWORDS["admin"], "next": next_url, "csrfmiddlewaretoken": token}
    return client.post(reverse("admin:login"), data)


def test_the_session_key_changes_at_sign_in(admin):
    planted = SessionStore()
    planted["planted"] = "by an attacker"
    planted.create()
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = planted.session_key
    response = _sign_in(client)
    assert response.status_code == 302
    assert client.cookies["sessionid"].value != planted.session_key
    assert not SessionStore().exists(planted.session_key)
    assert client.get("/admin/").status_code == 200


OFF_SITE = [EVIL, "//evil.example/x", "/\\evil.example", "https:evil.example", "\\\\evil.example"]


@pytest.mark.parametrize("next_url", OFF_SITE)
def test_sign_in_never_sends_the_browser_elsewhere(admin, next_url):
    response = _sign_in(Client(enforce_csrf_checks=True), next_url)
    assert response.status_code == 302
    assert response["Location"].startswith("/") and not response["Location"].startswith(("//", "/\\"))
    assert "evil.example" not in urlsplit(response["Location"]).netloc


def test_sign_in_follows_a_next_on_this_site(admin):
    response = _sign_in(Client(enforce_csrf_checks=True), "/admin/hooks/script/")
    assert response["Location"] == "/admin/hooks/script/"
