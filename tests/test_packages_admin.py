"""Settings > System > Packages in the admin: who may add and install, what the pages say and do."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django_q.models import OrmQ

from packages_admin.models import PackageInstall
from packages_admin.tasks import refresh_packages
from tests.packagekit import HOSTILE_NAMES, dpkg_version, make_fake_tools, needs_root, remove_hello

# Real apt-get and dpkg take one system-wide lock: parallel workers run these files on one of them.
pytestmark = pytest.mark.xdist_group("apt")

ROOT = Path(__file__).resolve().parent.parent
ADD_URL = reverse("admin:packages_admin_packageinstall_add")
LIST_URL = reverse("admin:packages_admin_packageinstall_changelist")


def change_url(package: PackageInstall) -> str:
    return reverse("admin:packages_admin_packageinstall_change", args=[package.pk])


def grant(user, *codenames: str):
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="packages_admin", codename__in=codenames)
    )
    return type(user).objects.get(pk=user.pk)  # fresh permission cache


def queued_installs() -> list[tuple[str, tuple]]:
    return [(q.task["func"], q.task["args"]) for q in OrmQ.objects.all()]


@pytest.fixture
def fake_path(tmp_path, monkeypatch):
    """apt's tools on PATH only record that they were started: proves the request ran nothing."""
    marker = tmp_path / "started"
    monkeypatch.setenv("PATH", make_fake_tools(tmp_path / "fakebin", marker))
    return marker


@pytest.fixture
def no_hello():
    """`hello` is not installed before the test, and is removed again after it."""
    remove_hello()
    yield
    remove_hello()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- the pages --------------------------------------------------------------------------


@pytest.mark.django_db
def test_packages_sit_under_a_system_heading_and_suggest_docker_io(client, admin):
    client.force_login(admin)
    index = client.get(reverse("admin:index")).content.decode()
    assert ">System</a>" in index and ">Packages</a>" in index

    add = client.get(ADD_URL)
    assert add.status_code == 200
    assert "<code>docker.io</code>" in add.content.decode()


@pytest.mark.django_db(transaction=True)
def test_adding_a_package_queues_its_install_and_runs_nothing_in_the_request(client, admin, fake_path):
    client.force_login(admin)
    response = client.post(ADD_URL, {"name": "docker.io"}, follow=True)

    package = PackageInstall.objects.get()
    assert response.redirect_chain[-1][0] == change_url(package)
    assert "Queued docker.io: a worker installs it, and this page shows its log." in messages_of(response)
    assert package.status == "pending"
    assert queued_installs() == [("packages_admin.tasks.install_package", (package.pk,))]
    assert not fake_path.exists(), "the web request started an apt tool"
    page = response.content.decode()
    assert '<meta http-equiv="refresh" content="3">' in page  # follows the install live
    assert "this page refreshes every 3 seconds" in page


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_name_in_the_form_is_refused_and_nothing_queued(client, admin, fake_path, name):
    client.force_login(admin)
    response = client.post(ADD_URL, {"name": name})

    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors["name"]
    assert len(errors) == 1 and "\n" not in errors[0]
    assert not PackageInstall.objects.exists()
    assert OrmQ.objects.count() == 0
    assert not fake_path.exists()


@pytest.mark.django_db
def test_the_same_package_twice_is_refused(client, admin):
    PackageInstall.objects.create(name="hello=2.10-3", status="installed")
    client.force_login(admin)
    response = client.post(ADD_URL, {"name": "hello"})
    assert response.context["adminform"].form.errors["name"] == ["hello is already in the list (as hello=2.10-3)"]
    assert OrmQ.objects.count() == 0


@pytest.mark.django_db
def test_list_shows_status_version_exit_code(client, admin):
    PackageInstall.objects.create(name="docker.io", status="installed", installed_version="20.10.24", exit_code=0)
    PackageInstall.objects.create(name="no-such-thing", status="failed", exit_code=100)
    client.force_login(admin)
    page = client.get(LIST_URL).content.decode()
    for text in ("docker.io", "20.10.24", "no-such-thing", "failed", "100", "Updated", "Exit code"):
        assert text in page
    assert "Remove from list (does not uninstall)" in page
    assert '<option value="delete_selected">' not in page


@pytest.mark.django_db
def test_change_page_shows_the_log_and_no_refresh_once_finished(client, admin):
    package = PackageInstall.objects.create(name="hello", status="failed", exit_code=100, log="E: <b>oops</b>\n")
    client.force_login(admin)
    page = client.get(change_url(package)).content.decode()
    assert '<pre class="package-log">E: &lt;b&gt;oops&lt;/b&gt;\n</pre>' in page
    assert 'http-equiv="refresh"' not in page
    assert 'name="_install_again"' in page and 'name="_refresh_status"' in page
    assert "Remove from list" in page and "does not uninstall it" in page
    assert 'name="_save"' not in page  # nothing on a record is edited by hand


# --- actions ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_install_again_queues_finished_packages_and_skips_queued_ones(client, admin, fake_path):
    done = PackageInstall.objects.create(name="hello", status="failed", exit_code=100)
    queued = PackageInstall.objects.create(name="docker.io", status="pending")
    client.force_login(admin)
    response = client.post(LIST_URL, {"action": "install_again", "_selected_action": [done.pk, queued.pk]}, follow=True)

    assert messages_of(response) == [
        "1 package queued for installation on the worker.",
        "1 package skipped: already queued or installing.",
    ]
    assert queued_installs() == [("packages_admin.tasks.install_package", (done.pk,))]
    done.refresh_from_db()
    assert (done.status, done.exit_code) == ("pending", None)
    assert not fake_path.exists()


@pytest.mark.django_db(transaction=True)
def test_install_again_button_on_the_change_page(client, admin, fake_path):
    package = PackageInstall.objects.create(name="hello", status="failed")
    client.force_login(admin)
    response = client.post(change_url(package), {"_install_again": "Install again"}, follow=True)
    assert response.redirect_chain[-1][0] == change_url(package)
    assert "1 package queued for installation on the worker." in messages_of(response)
    assert queued_installs() == [("packages_admin.tasks.install_package", (package.pk,))]


@needs_root
@pytest.mark.django_db(transaction=True)
def test_refresh_status_asks_dpkg_on_the_worker(client, admin):
    dpkg = PackageInstall.objects.create(name="dpkg", status="failed")
    gone = PackageInstall.objects.create(name="borgui-test-not-installed", status="installed", installed_version="1")
    client.force_login(admin)
    response = client.post(LIST_URL, {"action": "refresh_status", "_selected_action": [dpkg.pk, gone.pk]}, follow=True)

    assert messages_of(response) == ["2 packages: the worker checks the status with dpkg-query; reload in a moment."]
    ((func, args),) = queued_installs()
    assert func == "packages_admin.tasks.refresh_packages" and sorted(args[0]) == sorted([dpkg.pk, gone.pk])
    assert (PackageInstall.objects.get(pk=dpkg.pk).status, PackageInstall.objects.get(pk=gone.pk).status) == (
        "failed",
        "installed",
    ), "nothing is checked in the web process"

    assert refresh_packages(*args) == "1 installed, 1 not installed, 0 busy"  # what the worker runs
    dpkg.refresh_from_db()
    gone.refresh_from_db()
    assert (dpkg.status, dpkg.installed_version) == ("installed", dpkg_version("dpkg"))
    assert (gone.status, gone.installed_version) == ("failed", "")
    assert "dpkg-query does not show borgui-test-not-installed installed (it is not installed)" in gone.log


@pytest.mark.django_db
def test_remove_from_list_says_it_does_not_uninstall(client, admin):
    package = PackageInstall.objects.create(name="hello", status="installed")
    client.force_login(admin)
    confirm = client.get(reverse("admin:packages_admin_packageinstall_delete", args=[package.pk])).content.decode()
    assert "Removing a package from the list does not uninstall it" in confirm

    response = client.post(LIST_URL, {"action": "remove_from_list", "_selected_action": [package.pk]}, follow=True)
    (message,) = messages_of(response)
    assert message.startswith("Removed 1 package from the list. Removing a package from the list does not uninstall")
    assert not PackageInstall.objects.exists()


# --- who may do what ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_without_permissions_gets_403(client, staff):
    client.force_login(staff)
    assert client.get(ADD_URL).status_code == 403
    assert client.get(LIST_URL).status_code == 403
    assert client.post(ADD_URL, {"name": "hello"}).status_code == 403
    assert not PackageInstall.objects.exists()


@pytest.mark.django_db
def test_model_permissions_without_install_permission_cannot_add_or_install(client, staff):
    staff = grant(staff, "view_packageinstall", "add_packageinstall", "change_packageinstall")
    package = PackageInstall.objects.create(name="hello", status="failed")
    client.force_login(staff)

    listing = client.get(LIST_URL)
    assert listing.status_code == 200
    assert ADD_URL not in listing.content.decode()  # no "Add package" button
    assert "install_again" not in listing.content.decode()
    assert client.get(ADD_URL).status_code == 403
    assert client.post(ADD_URL, {"name": "hello2"}).status_code == 403
    assert client.post(change_url(package), {"_install_again": "Install again"}).status_code == 403
    client.post(LIST_URL, {"action": "install_again", "_selected_action": [package.pk]})
    assert OrmQ.objects.count() == 0
    assert 'name="_install_again"' not in client.get(change_url(package)).content.decode()


@pytest.mark.django_db(transaction=True)
def test_staff_with_install_permission_can_add_and_install(client, staff, fake_path):
    staff = grant(staff, "view_packageinstall", "add_packageinstall", "change_packageinstall", "install_package")
    client.force_login(staff)

    assert ADD_URL in client.get(LIST_URL).content.decode()
    response = client.post(ADD_URL, {"name": "hello"}, follow=True)
    package = PackageInstall.objects.get()
    assert response.redirect_chain[-1][0] == change_url(package)
    PackageInstall.objects.filter(pk=package.pk).update(status="failed")
    client.post(LIST_URL, {"action": "install_again", "_selected_action": [package.pk]})
    assert queued_installs() == [("packages_admin.tasks.install_package", (package.pk,))] * 2
    assert not fake_path.exists()


# --- in a browser, with a real worker -----------------------------------------------------------


@pytest.fixture
def worker(subprocess_env, tmp_path):
    """A real django-q2 worker (`manage.py qcluster`) on the test database."""
    log = (tmp_path / "qcluster.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"],
        env={**subprocess_env, "BORGUI_WORKERS": "1"},
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield process
    process.terminate()  # qcluster stops its own processes on SIGTERM
    try:
        process.wait(timeout=30)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # anything of ours left behind
        except ProcessLookupError:
            pass
        process.wait()
        log.close()


@needs_root
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_adds_hello_and_watches_the_worker_install_it(no_hello, admin, admin_login, page, live_server, worker):
    from playwright.sync_api import expect

    admin_login(admin)
    page.goto(f"{live_server.url}{LIST_URL}")
    page.click("text=Add package")
    expect(page.locator(".help", has_text="docker.io")).to_be_visible()
    page.fill("#id_name", "hello")
    page.click("input[name=_save]")

    expect(page.locator(".messagelist")).to_contain_text("Queued hello: a worker installs it")
    status = page.locator(".field-status .readonly")
    expect(status).to_have_text("installed", timeout=180_000)  # the page refreshes itself meanwhile
    version = dpkg_version("hello")
    assert version
    expect(page.locator(".field-installed_version .readonly")).to_have_text(version)
    expect(page.locator(".field-exit_code .readonly")).to_have_text("0")
    expect(page.locator(".package-log")).to_contain_text("Setting up hello")

    page.goto(f"{live_server.url}{LIST_URL}")
    row = page.locator("#result_list tbody tr", has_text="hello")
    expect(row.locator(".field-status")).to_have_text("installed")
    expect(row.locator(".field-installed_version")).to_have_text(version)
