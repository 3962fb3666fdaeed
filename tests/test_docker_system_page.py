"""The admin's System page (docs/docker-hooks.md#system-check): the web process's report beside a worker's, which is
asked for through django-q2 and shown as "waiting for a worker" until one answers."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)
WORKER_DOCKER = "unix:///nonexistent/borgui-worker/docker.sock"


@pytest.mark.browser
def test_worker_report_beside_the_web_report(live_server, page, admin, admin_login, qcluster, docker_host):
    admin_login(admin)
    # The index lists the page under "System", beside Packages.
    page.get_by_role("link", name="System status").first.click()
    assert page.url.startswith(f"{live_server.url}/admin/system/?task=")
    worker = page.locator("#worker-report")
    web = page.locator("#web-report")
    expect(worker).to_contain_text("waiting for a worker")
    # The web process reaches the suite's daemon (DOCKER_HOST of this process)…
    expect(web).to_contain_text("docker daemon")
    expect(web).to_contain_text("allowed")
    expect(web).to_contain_text("Docker is reachable but no enabled hook or plan uses it")
    expect(page.get_by_role("link", name="System › Packages")).to_have_attribute(
        "href", reverse("admin:packages_admin_packageinstall_changelist")
    )

    # …the worker, started only now with another DOCKER_HOST, answers with its own view.
    qcluster(DOCKER_HOST=WORKER_DOCKER)
    expect(worker).to_contain_text("no Docker socket at /nonexistent/borgui-worker/docker.sock", timeout=60_000)
    expect(worker).to_contain_text("borg")
    expect(worker).not_to_contain_text("waiting for a worker")
    expect(web).not_to_contain_text("no Docker socket")
    # Answered: the page stops reloading itself.
    assert page.locator("meta[http-equiv=refresh]").count() == 0


def test_only_superusers_see_it(client, staff, admin):
    client.force_login(staff)
    assert client.get("/admin/system/").status_code == 403
    client.force_login(admin)
    response = client.get("/admin/system/")
    assert response.status_code == 302 and "?task=" in response["Location"]
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"waiting for a worker" in page.content
    assert b'http-equiv="refresh"' in page.content


def test_anonymous_users_are_sent_to_the_login(client):
    response = client.get("/admin/system/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_system_heading_lists_the_page_for_superusers_only(client, staff, admin):
    client.force_login(admin)
    assert b'href="/admin/system/"' in client.get("/admin/").content
    client.force_login(staff)
    assert b'href="/admin/system/"' not in client.get("/admin/").content
