"""The admin pages of SSH connections, repositories, plans and runs, as their users meet them.

Browser tests drive Chromium through the real admin; the Django test client is used where
a page is only read or a form posted (permissions, validation, query counts).
"""

import html
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import OrmQ
from playwright.sync_api import expect

from repositories import borg
from repositories.models import (
    BackupPlan,
    PlanRepository,
    PlanRun,
    Repository,
    RepositoryJob,
    RepositoryLease,
    SSHConnection,
)
from tests.adminkit import count_changelist_queries
from tests.conftest import PASSWORDS

PASSPHRASE = "admin-typed passphrase 8h2k"
SET_HELP = "Set — leave empty to keep it."


def key_material(private_key: str) -> list[str]:
    return [line for line in private_key.splitlines() if line and not line.startswith("-----")]


def expect_message(page, text: str) -> None:
    """The admin's message after a form or an action (waits for the page to come)."""
    expect(page.locator("ul.messagelist")).to_contain_text(text, timeout=30_000)


def local_repository(tmp_path: Path, name: str, encryption: str = "repokey", init: bool = True) -> Repository:
    repository = Repository.objects.create(
        name=name,
        location=str(tmp_path / name),
        encryption=encryption,
        passphrase="" if encryption == "none" else f"{name}-passphrase",
    )
    if init:
        result = borg.init(repository)
        assert result.ok, result.log_lines
    return repository


# --- connections and repositories: secrets are never rendered back ---------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_connection_and_repository_created_in_the_admin_keep_their_secrets(
    admin, admin_login, page, live_server, sshd, tmp_path, qcluster
):
    qcluster()  # Initialise runs borg on the worker; the page follows it
    admin_login(admin)

    page.goto(live_server.url + reverse("admin:repositories_sshconnection_add"))
    page.fill("#id_name", "backup-host")
    page.fill("#id_host", "127.0.0.1")
    page.fill("#id_port", str(sshd.port))
    page.fill("#id_username", sshd.user)
    page.fill("#id_private_key", sshd.private_key)
    page.fill("#id_known_hosts", sshd.known_hosts)
    page.click("input[name=_save]")
    expect_message(page, "was added successfully")
    ssh_connection = SSHConnection.objects.get(name="backup-host")
    # (what the browser sends: the same key, lines ending in CR LF)
    assert ssh_connection.private_key.splitlines() == sshd.private_key.strip().splitlines()

    page.goto(live_server.url + reverse("admin:repositories_sshconnection_change", args=[ssh_connection.pk]))
    content = page.content()
    for secret_line in key_material(sshd.private_key):
        assert secret_line not in content
    assert page.input_value("#id_private_key") == ""
    assert SET_HELP in page.locator(".field-private_key").inner_text()

    location = f"ssh://{sshd.user}@127.0.0.1:{sshd.port}{tmp_path}/offsite"
    page.goto(live_server.url + reverse("admin:repositories_repository_add"))
    page.fill("#id_name", "offsite")
    page.fill("#id_location", location)
    page.select_option("#id_encryption", "repokey-blake2")
    page.fill("#id_passphrase", PASSPHRASE)
    page.click("input[name=_save]")
    expect_message(page, "was added successfully")
    repository = Repository.objects.get(name="offsite")
    assert repository.passphrase == PASSPHRASE and repository.source_connection is None

    change_url = live_server.url + reverse("admin:repositories_repository_change", args=[repository.pk])
    page.goto(change_url)
    assert PASSPHRASE not in page.content()
    assert page.input_value("#id_passphrase") == ""
    assert SET_HELP in page.locator(".field-passphrase").inner_text()

    # Saving the change form with the passphrase left empty keeps the stored one.
    page.select_option("#id_source_connection", label="backup-host")
    page.click("input[name=_save]")
    expect_message(page, "was changed successfully")
    repository.refresh_from_db()
    assert repository.passphrase == PASSPHRASE
    assert repository.source_connection == ssh_connection

    # The changelist says the passphrase is set, and initialising works with it over SSH.
    page.goto(live_server.url + reverse("admin:repositories_repository_changelist"))
    assert page.locator("tr:has-text('offsite') td.field-passphrase_set img").get_attribute("alt") == "True"
    page.check(f"input[name=_selected_action][value='{repository.pk}']")
    page.select_option("select[name=action]", "initialise")
    page.click("button[name=index]")
    expect_message(page, "offsite: initialised (repokey-blake2)")
    assert (tmp_path / "offsite" / "config").exists()
    assert PASSPHRASE not in page.content()
    listing = borg.list_archives(Repository.objects.get(pk=repository.pk))
    assert listing.ok and listing.json()["archives"] == []


@pytest.mark.django_db
def test_a_bounced_connection_form_keeps_only_the_key_just_typed(admin, client, sshd):
    client.force_login(admin)
    response = client.post(
        reverse("admin:repositories_sshconnection_add"),
        {"name": "bad host", "host": "127.0.0.1", "port": "22", "username": "root", "private_key": sshd.private_key},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    # What was just typed comes back (tests/test_secret_fields_rerender.py: never a stored one).
    content = response.content.decode()
    for secret_line in key_material(sshd.private_key):
        assert secret_line in content
    assert not SSHConnection.objects.exists()


@pytest.mark.django_db
def test_a_stored_private_key_can_be_removed(admin, client, sshd):
    ssh_connection = SSHConnection.objects.create(
        name="nas", host="nas.example", username="borg", private_key=sshd.private_key
    )
    url = reverse("admin:repositories_sshconnection_change", args=[ssh_connection.pk])
    client.force_login(admin)
    page_text = _page_text(client.get(url))
    assert "Remove the stored private key" in page_text
    post = {"name": "nas", "host": "nas.example", "port": "22", "username": "borg", "private_key": ""}

    assert client.post(url, post).status_code == 302
    ssh_connection.refresh_from_db()
    assert ssh_connection.private_key == sshd.private_key  # left empty: kept

    assert client.post(url, {**post, "clear_private_key": "on"}).status_code == 302
    ssh_connection.refresh_from_db()
    assert ssh_connection.private_key == ""  # the worker's own ssh set-up from now on
    page_text = _page_text(client.get(url))
    assert "Not set." in page_text and "Remove the stored private key" not in page_text


def _outside_keyfile_repository(tmp_path: Path, passphrase: str) -> tuple[str, str]:
    """A keyfile repository made with plain borg elsewhere, and its `borg key export`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BORG_", "BORGUI_"))}
    env.update(HOME=str(tmp_path / "elsewhere"), BORG_BASE_DIR=str(tmp_path / "elsewhere"), BORG_PASSPHRASE=passphrase)
    location = str(tmp_path / "made-elsewhere")
    for args in (["init", "--encryption=keyfile"], ["key", "export"]):
        extra = [str(tmp_path / "exported.key")] if args[0] == "key" else []
        subprocess.run([settings.BORG_BINARY, *args, "--", location, *extra], env=env, check=True, capture_output=True)
    return location, (tmp_path / "exported.key").read_text()


@pytest.mark.django_db
def test_import_an_existing_keyfile_repository_through_the_admin(admin, client, tmp_path):
    location, key_text = _outside_keyfile_repository(tmp_path, "elsewhere-pass")
    client.force_login(admin)
    response = client.post(
        reverse("admin:repositories_repository_add"),
        _repository_post(
            name="imported",
            location=location,
            encryption="keyfile",
            passphrase="elsewhere-pass",
            exported_key=key_text.replace("\n", "\r\n"),  # pasted in a browser
        ),
    )
    assert response.status_code == 302
    repository = Repository.objects.get(name="imported")
    assert repository.exported_key.split() == key_text.split()

    change = client.get(reverse("admin:repositories_repository_change", args=[repository.pk]))
    page_text = change.content.decode()
    assert key_text.splitlines()[1] not in page_text and "elsewhere-pass" not in page_text
    assert _page_text(change).count(SET_HELP) == 2  # passphrase and key file

    response = client.post(
        reverse("admin:repositories_repository_changelist"),
        {"action": "import_existing", "_selected_action": [repository.pk], "index": 0},
    )
    assert response.status_code == 302  # to the page that follows the worker: no borg in the web request
    assert b"Working on the worker" in client.get(response["Location"]).content
    task = OrmQ.objects.get().task  # the worker's side, as a qcluster would execute it
    result = import_string(task["func"])(*task["args"], **task["kwargs"])
    message = result["message"]
    assert result["ok"] and message.startswith("imported: opened with the stored passphrase (repository id "), message
    assert key_text.split()[1][:12] in message  # the id borg wrote into the key's first line

    # Saving the change form with both secrets left empty keeps them.
    response = client.post(
        reverse("admin:repositories_repository_change", args=[repository.pk]),
        _repository_post(name="imported", location=location, encryption="keyfile", passphrase=""),
    )
    assert response.status_code == 302
    repository.refresh_from_db()
    assert repository.passphrase == "elsewhere-pass"
    assert repository.exported_key.split() == key_text.split()


# --- plans: ordered repositories, Run now, the run page ---------------------------------------


def _pick_repository(page, row: int, name: str) -> None:
    """Choose a repository in the inline's autocomplete (select2) box, as a person does."""
    page.click(f"#repository_links-{row} .field-repository .select2-selection")
    page.fill(".select2-container--open .select2-search__field", name)
    page.click(f".select2-results__option:text-is('{name}')")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_plan_with_two_repositories_runs_from_the_admin(admin, admin_login, page, live_server, tmp_path):
    # Created in this order, so both the id and the name order put alpha first.
    alpha = local_repository(tmp_path, "alpha")
    zeta = local_repository(tmp_path, "zeta")
    photos, documents = tmp_path / "photos", tmp_path / "documents"
    photos.mkdir()
    documents.mkdir()
    (photos / "cat.jpg").write_bytes(os.urandom(3000))
    (documents / "letter.txt").write_text("dear borg\n")

    admin_login(admin)
    page.goto(live_server.url + reverse("admin:repositories_backupplan_add"))
    page.fill("#id_name", "family")
    page.fill("#id_sources", f"{photos}\n\n  {documents}  \n")
    page.fill("#id_repository_links-0-order", "0")
    _pick_repository(page, 0, "zeta")
    page.click(".add-row a")
    page.fill("#id_repository_links-1-order", "1")
    _pick_repository(page, 1, "alpha")
    page.click("input[name=_save]")
    expect_message(page, "was added successfully")

    plan = BackupPlan.objects.get(name="family")
    assert plan.sources == [str(photos), str(documents)]
    assert [r.name for r in plan.ordered_repositories()] == ["zeta", "alpha"]

    # Run now: queued for a worker, not run in the web request.
    page.check(f"input[name=_selected_action][value='{plan.pk}']")
    page.select_option("select[name=action]", "run_now")
    page.click("button[name=index]")
    expect_message(page, "1 plan run(s) queued: run ")
    run = PlanRun.objects.get(plan=plan)
    assert (run.status, run.trigger) == ("pending", "admin")
    assert [job.repository.name for job in run.jobs.order_by("order")] == ["zeta", "alpha"]

    # The worker's side: the task django-q2 holds is the one a qcluster would execute.
    queued = OrmQ.objects.get()
    task = queued.task
    assert (task["func"], task["args"]) == ("repositories.tasks.execute_run", (run.pk,))
    assert import_string(task["func"])(*task["args"], **task["kwargs"]) == "success"
    queued.delete()

    page.goto(live_server.url + reverse("admin:repositories_planrun_change", args=[run.pk]))
    assert page.locator(".field-status_badge .readonly").inner_text() == "success"
    assert page.locator(".field-trigger .readonly").inner_text() == "Admin"
    jobs = list(run.jobs.order_by("order"))
    assert [job.status for job in jobs] == ["success", "success"]
    assert jobs[0].finished <= jobs[1].started  # in series, in the plan's order
    rows = page.locator("#run-timeline tr.step-borg-create")
    assert rows.count() == 2
    for index, (job, repository) in enumerate(zip(jobs, (zeta, alpha), strict=True)):
        row = rows.nth(index)
        assert f"borg create to {repository.name}" in row.inner_text()
        assert row.locator(".status-success").count() == 1
        assert job.archive_name.startswith("family-")
        assert f"archive\n{job.archive_name}" in row.locator(".step-facts").inner_text()
        assert "files\n2" in row.locator(".step-facts").inner_text()
        listing = borg.list_archives(repository)
        assert [a["name"] for a in listing.json()["archives"]] == [job.archive_name]


# --- break-lock: a confirmation first, and its own permission ---------------------------------


def leave_a_stale_lock(repository: Repository) -> Path:
    """A borg that died holding the repository lock (as after a crash)."""
    lock = Path(repository.location) / "lock.exclusive"
    with borg.borg_environment(repository) as (env, _workdir):
        holder = subprocess.Popen(
            [settings.BORG_BINARY, "with-lock", "--", repository.location, "sleep", "60"],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not lock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(10)
    assert lock.exists()
    return lock


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_break_lock_asks_first(admin, admin_login, page, live_server, tmp_path):
    repository = local_repository(tmp_path, "locked", encryption="none")
    lock = leave_a_stale_lock(repository)

    admin_login(admin)
    page.goto(live_server.url + reverse("admin:repositories_repository_changelist"))
    page.check(f"input[name=_selected_action][value='{repository.pk}']")
    page.select_option("select[name=action]", "break_lock")
    page.click("button[name=index]")
    assert page.locator("h1").inner_text() == "Break the borg lock?"
    assert f"locked — {repository.location}" in page.locator("#content").inner_text()
    assert lock.exists()  # nothing done before the answer

    page.click("input[type=submit][value='Yes, break the lock']")
    expect_message(page, "locked: lock broken")
    assert not lock.exists()


@pytest.mark.django_db
def test_break_lock_needs_its_permission(staff, client, tmp_path):
    repository = local_repository(tmp_path, "locked", encryption="none")
    lock = leave_a_stale_lock(repository)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_repository", "change_repository"]))
    client.force_login(staff)
    changelist = reverse("admin:repositories_repository_changelist")
    post = {"action": "break_lock", "_selected_action": [repository.pk], "confirmed": "yes", "index": 0}

    response = client.get(changelist)
    assert response.status_code == 200
    actions = [value for value, _label in response.context["action_form"].fields["action"].choices]
    assert "initialise" in actions and "break_lock" not in actions
    client.post(changelist, post)
    assert lock.exists()

    staff.user_permissions.add(Permission.objects.get(codename="break_lock"))
    response = client.get(changelist)
    actions = [value for value, _label in response.context["action_form"].fields["action"].choices]
    assert "break_lock" in actions
    response = client.post(changelist, post, follow=True)
    assert "locked: lock broken" in [str(m) for m in response.context["messages"]]
    assert not lock.exists()


@pytest.mark.django_db
def test_break_lock_refuses_while_a_run_writes_the_repository(admin, client, tmp_path):
    repository = local_repository(tmp_path, "busy", encryption="none")
    lock = leave_a_stale_lock(repository)
    plan = BackupPlan.objects.create(name="busy-plan", sources=[str(tmp_path)])
    run = PlanRun.objects.create(plan=plan, trigger="cli", status="running")
    RepositoryLease.objects.create(repository=repository, run=run, taken=timezone.now())
    client.force_login(admin)
    response = client.post(
        reverse("admin:repositories_repository_changelist"),
        {"action": "break_lock", "_selected_action": [repository.pk], "confirmed": "yes"},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == [
        f"busy: not broken — run {run.pk} of busy-plan is writing it"
    ]
    assert lock.exists()


# --- who may see what --------------------------------------------------------------------------

CHANGELISTS = ["sshconnection", "repository", "backupplan", "planrun"]


@pytest.mark.django_db
@pytest.mark.parametrize("model", CHANGELISTS)
def test_staff_without_permissions_is_refused(staff, client, model):
    client.force_login(staff)
    assert client.get(reverse(f"admin:repositories_{model}_changelist")).status_code == 403
    assert client.get(reverse(f"admin:repositories_{model}_add")).status_code == 403


@pytest.mark.django_db
def test_outsider_cannot_log_in(outsider, client):
    response = client.post(
        reverse("admin:login"), {"username": "outsider", "password": PASSWORDS["outsider"], "next": "/admin/"}
    )
    assert response.status_code == 200
    assert "Please enter the correct username and password for a staff account" in response.content.decode()
    client.force_login(outsider)  # even with a session, the admin sends them to the login page
    response = client.get(reverse("admin:repositories_repository_changelist"))
    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))


# --- changelists cost the same number of queries for 2 rows and for 20 -------------------------


def _populate(count: int, tmp_path: Path) -> None:
    start = Repository.objects.count()
    for index in range(start, start + count):
        ssh_connection = SSHConnection.objects.create(
            name=f"host-{index}", host=f"host{index}.example", username="borg", private_key="k"
        )
        repository = Repository.objects.create(
            name=f"repo-{index}",
            location=f"/backups/repo-{index}",
            encryption="repokey",
            passphrase="p",
            source_connection=ssh_connection,
        )
        other = Repository.objects.create(name=f"copy-{index}", location=f"/backups/copy-{index}", encryption="none")
        plan = BackupPlan.objects.create(
            name=f"plan-{index}",
            sources=["/srv"],
            schedule="0 3 * * *",
            timezone="Europe/Berlin",
            source_connection=ssh_connection,
        )
        PlanRepository.objects.create(plan=plan, repository=repository, order=0)
        PlanRepository.objects.create(plan=plan, repository=other, order=1)
        run = PlanRun.objects.create(plan=plan, trigger="cli", status="success", finished=timezone.now())
        for order, target in enumerate((repository, other)):
            RepositoryJob.objects.create(
                run=run, repository=target, order=order, status="success", finished=timezone.now()
            )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model, rows_per_batch", [("sshconnection", 1), ("repository", 2), ("backupplan", 1), ("planrun", 1)]
)
def test_changelist_query_count_does_not_grow_with_rows(admin, client, tmp_path, model, rows_per_batch):
    client.force_login(admin)
    url = reverse(f"admin:repositories_{model}_changelist")
    _populate(2, tmp_path)
    few = count_changelist_queries(client, url, 2 * rows_per_batch)
    _populate(18, tmp_path)
    many = count_changelist_queries(client, url, 20 * rows_per_batch)
    assert many == few, f"{few} queries for 2 rows, {many} for 20"


@pytest.mark.django_db
def test_changelists_show_the_related_values(admin, client, tmp_path):
    """The values the query-count test makes cheap are really on the page."""
    _populate(2, tmp_path)
    client.force_login(admin)
    plans = client.get(reverse("admin:repositories_backupplan_changelist")).content.decode()
    assert "repo-0, copy-0" in plans  # in the order they are backed up
    assert "CET" in plans or "CEST" in plans  # the next run, in the plan's time zone
    repositories = client.get(reverse("admin:repositories_repository_changelist")).content.decode()
    assert "host-1" in repositories and 'class="status-success"' in repositories
    runs = client.get(reverse("admin:repositories_planrun_changelist")).content.decode()
    assert "plan-1 #" in runs


# --- validation through the admin forms --------------------------------------------------------


def _plan_post(repository: Repository, **overrides) -> dict:
    data = {
        "name": "valid-plan",
        "enabled": "on",
        "sources": "/srv/data",
        "excludes": "",
        "compression": "lz4",
        "archive_name": "{plan}-{now}",
        "schedule": "",
        "timezone": "",
        "keep_within": "",
        "keep_hourly": "",
        "keep_daily": "",
        "keep_weekly": "",
        "keep_monthly": "",
        "keep_yearly": "",
        "on_repository_failure": "continue",
        "source_connection": "",
        "repository_links-TOTAL_FORMS": "1",
        "repository_links-INITIAL_FORMS": "0",
        "repository_links-MIN_NUM_FORMS": "0",
        "repository_links-MAX_NUM_FORMS": "1000",
        "repository_links-0-order": "0",
        "repository_links-0-repository": str(repository.pk),
        "_save": "Save",
    }
    data.update(overrides)
    return data


def _page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field, value, message",
    [
        ("name", "bad name/with slash", "Use 1–100 letters, digits, '-', '_' or '.', starting with a letter or digit."),
        ("schedule", "61 * * * *", "minute 61 is out of range 0–59."),
        ("timezone", "Mars/Olympus", "'Mars/Olympus' is not an IANA time zone (for example Europe/Berlin)."),
        ("compression", "zstd,99", "Use a borg compression: none, lz4, zstd,1–22"),
        ("archive_name", "{plan}/{now}", "An archive name never contains '/'"),
    ],
)
def test_plan_form_refuses_bad_values(admin, client, field, value, message):
    repository = Repository.objects.create(name="target", location="/backups/target", encryption="none")
    client.force_login(admin)
    response = client.post(reverse("admin:repositories_backupplan_add"), _plan_post(repository, **{field: value}))
    assert response.status_code == 200  # the form again, not a redirect
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert message in _page_text(response)
    assert not BackupPlan.objects.exists()


@pytest.mark.django_db
def test_plan_form_accepts_the_valid_values(admin, client):
    """The control for the refusals above: the same post with good values is saved."""
    repository = Repository.objects.create(name="target", location="/backups/target", encryption="none")
    client.force_login(admin)
    response = client.post(
        reverse("admin:repositories_backupplan_add"),
        _plan_post(repository, schedule="30 2 * * *", timezone="Europe/Berlin", compression="zstd,3"),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    plan = BackupPlan.objects.get(name="valid-plan")
    assert (plan.schedule, plan.timezone, plan.compression) == ("30 2 * * *", "Europe/Berlin", "zstd,3")


def _repository_post(**overrides) -> dict:
    data = {
        "name": "new-repo",
        "location": "/backups/new",
        "encryption": "repokey",
        "passphrase": PASSPHRASE,
        "source_connection": "",
        "exported_key": "",
        "_save": "Save",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field, value, message",
    [
        ("location", "/backups/main::archive", "A repository location never contains '::'"),
        ("location", "ssh://borg@nas:22/backups::x", "A repository location never contains '::'"),
        ("name", "bad name/with slash", "Use 1–100 letters, digits, '-', '_' or '.', starting with a letter or digit."),
        ("passphrase", "", "Encryption repokey needs a passphrase."),
    ],
)
def test_repository_form_refuses_bad_values(admin, client, field, value, message):
    client.force_login(admin)
    response = client.post(reverse("admin:repositories_repository_add"), _repository_post(**{field: value}))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert message in _page_text(response)
    # The passphrase just typed is kept for the next try (it is never a stored one).
    assert (f'value="{PASSPHRASE}"' in response.content.decode()) == (field != "passphrase")
    assert not Repository.objects.exists()


@pytest.mark.django_db
def test_retention_that_would_prune_another_plans_archives_is_refused(admin, client):
    shared = Repository.objects.create(name="shared", location="/backups/shared", encryption="none")
    full = BackupPlan.objects.create(name="nightly-full", sources=["/srv"])
    PlanRepository.objects.create(plan=full, repository=shared)
    client.force_login(admin)

    response = client.post(
        reverse("admin:repositories_backupplan_add"),
        _plan_post(shared, name="nightly", keep_daily="7", archive_name="{plan}-{now}"),
    )
    assert response.status_code == 200
    text = _page_text(response)
    assert "Retention refused: on repository shared the archives of plan nightly-full (nightly-full-…)" in text
    assert "match this plan's prefix nightly-…" in text
    assert list(BackupPlan.objects.values_list("name", flat=True)) == ["nightly-full"]

    # Without retention the same plan is fine (it never prunes) ...
    response = client.post(reverse("admin:repositories_backupplan_add"), _plan_post(shared, name="nightly"))
    assert response.status_code == 302
    # ... and retention on nightly-full is safe: "nightly-full-*" never matches nightly's archives.
    response = client.post(
        reverse("admin:repositories_backupplan_change", args=[full.pk]),
        _plan_post(
            shared,
            name="nightly-full",
            keep_daily="7",
            **{
                "repository_links-INITIAL_FORMS": "1",
                "repository_links-0-id": str(full.repository_links.get().pk),
                "repository_links-0-plan": str(full.pk),
            },
        ),
    )
    assert response.status_code == 302, _page_text(response)
    full.refresh_from_db()
    assert full.keep_daily == 7


@pytest.mark.django_db
def test_view_only_staff_sees_whether_secrets_are_set_never_their_values(client, staff, tmp_path):
    from django.contrib.auth.models import Permission

    from repositories.models import Repository

    repository = Repository.objects.create(
        name="viewed", location=str(tmp_path / "r"), encryption="repokey", passphrase="view-only-must-not-see"
    )
    staff.user_permissions.add(Permission.objects.get(codename="view_repository"))
    client.force_login(staff)
    response = client.get(f"/admin/repositories/repository/{repository.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "view-only-must-not-see" not in page
    assert "passphrase: set; Key file: not set" in page or "passphrase: set; exported key: not set" in page
