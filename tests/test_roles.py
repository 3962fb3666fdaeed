"""Roles: every admin URL and custom view, walked by each role, answers as the matrix says.

The expected answer of a page comes from the permission that guards it (the tables below)
and from accounts/roles.py, never from the user's actual permissions: a group that holds
the wrong permissions, or a view that checks the wrong one, shows up as a mismatch.
"""

from pathlib import Path

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import RequestFactory
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_q.models import OrmQ, Schedule, Task

from accounts.roles import COVERED_APPS, SYSTEM_PERMISSION, UNASSIGNED, Role, markdown_matrix, matrix
from accounts.roles import role_permissions as matrix_permissions
from archives.models import Archive, RestoreJob
from hooks.models import HookAttachment, ScriptExecution
from maintenance.models import MaintenanceJob
from notifications.models import Channel
from packages_admin.models import PackageInstall
from repositories.models import PlanRun, RepositoryJob, SSHConnection
from tests.adminkit import admin_url_names, registered_admins
from tests.factories import make_plan, make_repository
from tests.hookkit import make_script

pytestmark = pytest.mark.django_db

ROLES = ["viewer", "operator", "admin", "staff"]  # staff: a staff member in no group
DOCS = Path(__file__).resolve().parent.parent / "docs" / "security.md"


def holds(role: str, permission) -> bool:
    """What the matrix gives the role; a tuple means all of them."""
    if permission is None:
        return True
    if isinstance(permission, tuple):
        return all(holds(role, p) for p in permission)
    return role != "staff" and permission in matrix_permissions(Role(role))


# --- the matrix itself ---------------------------------------------------------------------


def test_every_permission_named_in_the_matrix_exists():
    existing = {f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.select_related("content_type")}
    assert sorted(set(matrix()) - existing) == []


def test_every_permission_of_the_covered_apps_is_in_the_matrix():
    covered = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.filter(content_type__app_label__in=COVERED_APPS).select_related("content_type")
    }
    assert sorted(covered - set(matrix()) - UNASSIGNED) == []


def test_the_groups_hold_exactly_their_roles_permissions():
    for role in Role:
        group = Group.objects.get(name=role.value)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert held == matrix_permissions(role), role


def test_operators_and_viewers_hold_no_add_change_or_delete_permission():
    for role in (Role.VIEWER, Role.OPERATOR):
        writes = [
            name for name in matrix_permissions(role) if name.split(".")[1].split("_")[0] in {"add", "change", "delete"}
        ]
        assert writes == [], role


def test_migrate_keeps_the_groups_current():
    # An admin changed a role's group by hand; the next migrate (any migrate) puts it back.
    from django.core.management import call_command

    viewer = Group.objects.get(name="viewer")
    viewer.permissions.add(Permission.objects.get(codename="delete_repository"))
    call_command("migrate", verbosity=0)
    assert not viewer.permissions.filter(codename="delete_repository").exists()


def test_docs_show_the_matrix_of_the_code():
    assert markdown_matrix() in DOCS.read_text(), "regenerate with: python manage.py permission_matrix"


# --- the walk ------------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path):
    """One object of every kind an admin page shows."""
    repository = make_repository(tmp_path / "nonexistent" / "repo", encryption="repokey", init=False)
    plan = make_plan("nightly", [repository], [tmp_path])
    run = PlanRun.objects.create(plan=plan, status="running", trigger="manual")
    RepositoryJob.objects.create(run=run, repository=repository)
    script = make_script("probe", "#!/bin/sh\necho saved body\n", approved=False)
    HookAttachment.objects.create(script=script, repository=repository, hook_type="pre-backup")
    execution = ScriptExecution.objects.create(script=script, script_name=script.name, hook_type="test")
    archive = Archive.objects.create(repository=repository, name="nightly-1", plan=plan)
    owner = User.objects.create_user("device-owner")
    attempt = {"username": "someone", "ip_address": "192.0.2.1", "user_agent": "test", "path_info": "/admin/login/"}
    task = {"func": "system.tasks.system_report", "started": "2026-01-01T00:00Z", "stopped": "2026-01-01T00:00Z"}
    return {
        "repositories.sshconnection": SSHConnection.objects.create(name="box", host="127.0.0.1", username="u"),
        "repositories.repository": repository,
        "repositories.backupplan": plan,
        "repositories.planrun": run,
        "hooks.script": script,
        "hooks.scriptexecution": execution,
        "packages_admin.packageinstall": PackageInstall.objects.create(name="hello"),
        "archives.archive": archive,
        "archives.restorejob": RestoreJob.objects.create(
            repository=repository, archive_name=archive.name, target=str(tmp_path / "restore"), requested_by=owner
        ),
        "notifications.channel": Channel.objects.create(name="ops", url="json://127.0.0.1:9/borgui-secret-token"),
        "maintenance.maintenancejob": MaintenanceJob.objects.create(
            kind="check", repository=repository, trigger="admin", target=repository.name, status="running"
        ),
        "auth.user": None,  # filled in per role: the user itself
        "auth.group": Group.objects.get(name="viewer"),
        "django_q.schedule": Schedule.objects.first(),
        "django_q.success": Task.objects.create(id="a" * 32, name="ok", success=True, **task),
        "django_q.failure": Task.objects.create(id="b" * 32, name="bad", success=False, **task),
        "django_q.ormq": OrmQ.objects.create(key="borgui", payload="x", lock=None),
        "axes.accessattempt": AccessAttempt.objects.create(failures_since_start=1, **attempt),
        "axes.accesslog": AccessLog.objects.create(**attempt),
        "axes.accessfailurelog": AccessFailureLog.objects.create(**attempt),
        "otp_totp.totpdevice": TOTPDevice.objects.create(user=owner, name="phone"),
        "otp_static.staticdevice": StaticDevice.objects.create(user=owner, name="recovery"),
    }


@pytest.fixture
def signed_in(client, role_user, staff):
    def sign_in(role: str):
        user = staff if role == "staff" else role_user(role)
        client.force_login(user)
        return user

    return sign_in


MODEL_PAGES = ("changelist", "add", "change", "delete", "history")
ALLOWED_POST = (200, 302)
# Pages no role may use, whatever the matrix: the model admin forbids them for everyone.
NOBODY = {
    ("repositories.planrun", "add"), ("repositories.planrun", "change POST"),
    ("hooks.scriptexecution", "add"), ("hooks.scriptexecution", "change POST"),
    ("django_q.success", "add"), ("django_q.failure", "add"), ("django_q.ormq", "add"),
    ("axes.accessattempt", "add"), ("axes.accesslog", "add"), ("axes.accessfailurelog", "add"),
    # Archives come from borg; they are deleted only by the action, which deletes in borg first.
    ("archives.archive", "add"), ("archives.archive", "change POST"), ("archives.archive", "delete"),
    ("archives.restorejob", "add"), ("archives.restorejob", "change POST"),
    # Maintenance jobs are records of borg's work: started from the repository or plan page.
    ("maintenance.maintenancejob", "add"), ("maintenance.maintenancejob", "change POST"),
}  # fmt: skip
# Other URLs: (method → (permission needed, answer when held)); None needs only a staff login.
CUSTOM = {
    "admin:index": {"GET": (None, 200)},
    "admin:auth_user_password_change": {"GET": ("auth.change_user", 200), "POST": ("auth.change_user", 200)},
    "admin:login": {"GET": (None, 302)},  # signed in already: on to the index
    "admin:password_change": {"GET": (None, 200)},
    "admin:password_change_done": {"GET": (None, 200)},
    "admin:jsi18n": {"GET": (None, 200)},
    "system": {"GET": (SYSTEM_PERMISSION, 302)},
    "admin:repositories_repository_change_passphrase": {
        "GET": ("repositories.change_repository", 200),
        "POST": ("repositories.change_repository", 200),  # empty form: shown again with errors
    },
    # Live progress (docs/dashboard.md#progress): a run's, and every active run's for the dashboard.
    "admin:repositories_planrun_progress": {"GET": ("repositories.view_planrun", 200)},
    "dashboard_progress": {"GET": ("repositories.view_planrun", 200)},
    # Object-page actions: a GET shows a confirmation page, a POST acts (docs/admin.md).
    "admin:repositories_planrun_cancel": {
        "GET": ("repositories.cancel_run", 200),
        "POST": ("repositories.cancel_run", 302),
    },
    "admin:repositories_backupplan_run": {
        "GET": ("repositories.run_plan", 200),
        "POST": ("repositories.run_plan", 302),
    },
    "admin:repositories_backupplan_preview": {"GET": ("repositories.view_backupplan", 200)},
    "admin:repositories_repository_initialise": {
        "GET": ("repositories.change_repository", 200),
        "POST": ("repositories.change_repository", 302),
    },
    "admin:repositories_repository_break_lock": {
        "GET": ("repositories.break_lock", 200),
        "POST": ("repositories.break_lock", 302),
    },
    # GET: the page that shows what is approved; POST approves (and goes back to the script).
    "admin:hooks_script_approve": {"GET": ("hooks.approve_script", 200), "POST": ("hooks.approve_script", 302)},
    "admin:hooks_script_test": {"GET": ("hooks.test_script", 200), "POST": ("hooks.test_script", 302)},
    "admin:hooks_script_recreate_templates": {
        "GET": (None, 302),  # a GET only goes back to the list
        "POST": (("hooks.add_script", "hooks.approve_script"), 302),
    },
    "admin:autocomplete": {"GET": ("repositories.view_repository", 200)},
    # Follows repository actions queued on the worker (initialise, check, list).
    "admin:repositories_repository_operations": {"GET": ("repositories.view_repository", 200)},
    # Archives: no index is built yet, so browse and restore say it is being built.
    "admin:archives_archive_browse": {"GET": ("archives.view_archive", 200)},
    "admin:archives_archive_download": {"GET": ("archives.download_archive", 409)},  # the index is not ready
    "admin:archives_archive_restore": {
        "GET": ("archives.restore_archive", 200),
        "POST": ("archives.restore_archive", 200),
    },
    "admin:archives_archive_index": {"GET": ("archives.view_archive", 302), "POST": ("archives.view_archive", 302)},
    "admin:archives_archive_refresh": {"GET": ("archives.view_archive", 200), "POST": ("archives.view_archive", 302)},
    "admin:archives_archive_diff": {"GET": ("archives.view_archive", 200)},  # follows a task on the worker
    "admin:archives_restorejob_cancel": {"GET": (None, 302), "POST": ("archives.restore_archive", 302)},
    # Check now (compact now needs maintenance.compact_repository: tests/test_maintenance_admin.py).
    "admin:maintenance_maintenancejob_start": {
        "GET": ("maintenance.run_maintenance", 200),
        "POST": ("maintenance.run_maintenance", 302),
    },
    "admin:maintenance_maintenancejob_cancel": {"GET": (None, 302), "POST": ("maintenance.run_maintenance", 302)},
    # Token-protected, not role-protected: without BORGUI_METRICS_TOKEN it is not there.
    "metrics": {"GET": (None, 404)},
    "admin:view_on_site": {"GET": (None, 302)},
    "two_factor": {"GET": (None, 200)},  # everyone's own
    # OpenID Connect is off here (tests/test_sign_in_oidc.py turns it on): no such pages.
    "oidc_authentication_init": {"GET": (None, 404)},
    "oidc_authentication_callback": {"GET": (None, 404)},
    # A user's TOTP key is never shown again, not even to an admin (OTP_ADMIN_HIDE_SENSITIVE_DATA).
    "admin:otp_totp_totpdevice_config": {"GET": ("nobody", 403)},
    "admin:otp_totp_totpdevice_qrcode": {"GET": ("nobody", 403)},
    "admin:app_list": {"GET": ("any permission of the app", 200)},  # 404 without: the app is not there
}
NOT_WALKED = {"admin:logout", "healthz", "favicon"}
# Listed for superusers only (docs/dashboard.md); their pages still answer to the permissions.
SUPERUSER_APPS = {"django_q"}


def _custom_url(name: str, world) -> str:
    script, run, repository = world["hooks.script"], world["repositories.planrun"], world["repositories.repository"]
    by_object = {
        "admin:repositories_repository_change_passphrase": [repository.pk],
        "admin:repositories_planrun_cancel": [run.pk],
        "admin:repositories_planrun_progress": [run.pk],
        "admin:repositories_backupplan_run": [world["repositories.backupplan"].pk],
        "admin:repositories_backupplan_preview": [world["repositories.backupplan"].pk],
        "admin:repositories_repository_initialise": [repository.pk],
        "admin:repositories_repository_break_lock": [repository.pk],
        "admin:hooks_script_approve": [script.pk],
        "admin:hooks_script_test": [script.pk],
        "admin:auth_user_password_change": [world["auth.user"].pk],
        "admin:otp_totp_totpdevice_config": [world["otp_totp.totpdevice"].pk],
        "admin:otp_totp_totpdevice_qrcode": [world["otp_totp.totpdevice"].pk],
        "admin:view_on_site": [ContentType.objects.get_for_model(script).pk, script.pk],
        "admin:archives_archive_browse": [world["archives.archive"].pk],
        "admin:archives_archive_download": [world["archives.archive"].pk],
        "admin:archives_archive_restore": [world["archives.archive"].pk],
        "admin:archives_archive_index": [world["archives.archive"].pk],
        "admin:archives_archive_refresh": [repository.pk],
        "admin:archives_restorejob_cancel": [world["archives.restorejob"].pk],
        "admin:maintenance_maintenancejob_start": ["check", repository.pk],
        "admin:maintenance_maintenancejob_cancel": [world["maintenance.maintenancejob"].pk],
    }
    url = reverse(name, args=by_object.get(name, []))
    if name == "admin:archives_archive_diff":
        url += "?task=" + "c" * 32
    if name == "admin:autocomplete":
        url += "?app_label=repositories&model_name=planrepository&field_name=repository&term="
    return url


def _post_data(name: str) -> dict:
    return {"hook_type": "pre-backup", "backup_status": "success"} if name == "admin:hooks_script_test" else {}


def _answer(client, method: str, url: str, data=None) -> int:
    # Each POST is undone, so that a delete or an approval does not change the next page.
    with transaction.atomic():
        response = client.post(url, data or {}) if method == "POST" else client.get(url)
        transaction.set_rollback(True)
    return response.status_code


def _model_expectation(role, label, page, method):
    app_label, model_name = label.split(".")
    view, add, change, delete = (f"{app_label}.{action}_{model_name}" for action in ("view", "add", "change", "delete"))
    if (label, page) in NOBODY or (label, f"{page} {method}") in NOBODY:
        return 403
    if page in ("changelist", "history") or (page == "change" and method == "GET"):
        may = holds(role, view) or holds(role, change)
        if label == "hooks.scriptexecution":  # who may test a script sees the results
            may = may or holds(role, "hooks.test_script")
        return 200 if may else 403
    if page == "change":
        # An empty form: shown again with its errors, or saved where every field is read-only.
        return ALLOWED_POST if holds(role, change) else 403
    if page == "add":
        needed = (add, "packages_admin.install_package") if label == "packages_admin.packageinstall" else add
        return 200 if holds(role, needed) else 403
    # A POST deletes, or says which protected objects (a script's attachments) stop it.
    return (ALLOWED_POST if method == "POST" else 200) if holds(role, delete) else 403


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_matrix_says_on_every_admin_url(role, world, signed_in, client):
    user = signed_in(role)
    world["auth.user"] = user
    mismatches, walked = [], set()
    for model in registered_admins():
        label = model._meta.label_lower
        obj = world[label]
        for page in MODEL_PAGES:
            name = f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}"
            walked.add(name)
            url = reverse(name, args=[obj.pk] if page in ("change", "delete", "history") else [])
            methods = ["GET"] if page in ("changelist", "history") else ["GET", "POST"]
            for method in methods:
                expected = _model_expectation(role, label, page, method)
                got = _answer(client, method, url, {"post": "yes"} if page == "delete" else None)
                if got not in (expected if isinstance(expected, tuple) else (expected,)):
                    mismatches.append(f"{method} {url}: {got}, the matrix says {expected}")
    for name, methods in CUSTOM.items():
        walked.add(name)
        for method, (permission, answer) in methods.items():
            if name == "admin:app_list":
                for app_label in {model._meta.app_label for model in registered_admins()}:
                    url = reverse(name, args=[app_label])
                    may = (
                        any(p.startswith(f"{app_label}.") for p in matrix_permissions(Role(role)))
                        if role != "staff" and app_label not in SUPERUSER_APPS
                        else False
                    )
                    expected = 200 if may else 404
                    if (got := _answer(client, method, url)) != expected:
                        mismatches.append(f"{method} {url}: {got}, the matrix says {expected}")
                continue
            url = _custom_url(name, world)
            expected = answer if holds(role, permission) else 403
            got = _answer(client, method, url, _post_data(name))
            if got != expected:
                mismatches.append(f"{method} {url}: {got}, the matrix says {expected}")
    assert mismatches == [], "\n".join(mismatches)
    # A URL added later without a row here fails the walk.
    assert sorted(admin_url_names() - walked - NOT_WALKED) == []


# Every admin action: the permission it needs.
ACTION_PERMISSIONS = {
    "repositories.repository": {
        "initialise": "repositories.change_repository",
        "import_existing": "repositories.change_repository",
        "check_repository": "maintenance.run_maintenance",
        "list_archives": "repositories.view_repository",
        "break_lock": "repositories.break_lock",
        "delete_selected": "repositories.delete_repository",
    },
    "repositories.backupplan": {
        "run_now": "repositories.run_plan",
        "delete_selected": "repositories.delete_backupplan",
    },
    "repositories.planrun": {"cancel": "repositories.cancel_run", "delete_selected": "repositories.delete_planrun"},
    "repositories.sshconnection": {"delete_selected": "repositories.delete_sshconnection"},
    "hooks.script": {
        "approve_selected": "hooks.approve_script",
        "revoke_selected": "hooks.approve_script",
        "delete_selected": "hooks.delete_script",
    },
    "hooks.scriptexecution": {"delete_selected": "hooks.delete_scriptexecution"},
    "archives.archive": {"delete_archives": "archives.delete_archive", "diff_archives": "archives.view_archive"},
    "archives.restorejob": {"delete_selected": "archives.delete_restorejob"},
    "maintenance.maintenancejob": {"delete_selected": "maintenance.delete_maintenancejob"},
    "notifications.channel": {
        "send_test": "notifications.change_channel",
        "delete_selected": "notifications.delete_channel",
    },
    "packages_admin.packageinstall": {
        "install_again": "packages_admin.install_package",
        "refresh_status": "packages_admin.change_packageinstall",
        "remove_from_list": "packages_admin.delete_packageinstall",
    },
    "auth.user": {"delete_selected": "auth.delete_user"},
    "auth.group": {"delete_selected": "auth.delete_group"},
    "django_q.schedule": {"delete_selected": "django_q.delete_schedule"},
    "django_q.success": {"delete_selected": "django_q.delete_success", "resubmit_task": "django_q.view_success"},
    "django_q.failure": {"delete_selected": "django_q.delete_failure", "resubmit_task": "django_q.view_failure"},
    "django_q.ormq": {"delete_selected": "django_q.delete_ormq"},
    "axes.accessattempt": {
        "delete_selected": "axes.delete_accessattempt",
        "cleanup_expired_attempts": "axes.view_accessattempt",
    },
    "axes.accesslog": {"delete_selected": "axes.delete_accesslog"},
    "axes.accessfailurelog": {"delete_selected": "axes.delete_accessfailurelog"},
    "otp_totp.totpdevice": {"delete_selected": "otp_totp.delete_totpdevice"},
    "otp_static.staticdevice": {"delete_selected": "otp_static.delete_staticdevice"},
}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_offered_exactly_its_actions_and_others_do_nothing(role, world, signed_in, client, admin):
    user = signed_in(role)
    world["auth.user"] = user
    request = RequestFactory().get("/")
    mismatches = []
    for model, model_admin in registered_admins().items():
        label = model._meta.label_lower
        request.user = admin
        assert set(model_admin.get_actions(request)) == set(ACTION_PERMISSIONS[label]), label
        request.user = user
        # What the list page offers; without the list page, nothing.
        offered = set(model_admin.get_actions(request)) if model_admin.has_view_or_change_permission(request) else set()
        expected = {name for name, permission in ACTION_PERMISSIONS[label].items() if holds(role, permission)}
        if offered != expected:
            mismatches.append(f"{label}: offered {sorted(offered)}, the matrix says {sorted(expected)}")
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for action in sorted(set(ACTION_PERMISSIONS[label]) - expected):
            response = client.post(changelist, {"action": action, "_selected_action": [world[label].pk], "index": 0})
            said = [str(m) for m in get_messages(response.wsgi_request)]
            if response.status_code not in (200, 302, 403) or not set(said) <= {"No action selected."}:
                mismatches.append(f"{label}.{action} by {role}: {response.status_code} {said}")
    assert mismatches == []


# --- what each role sees on a page -------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_buttons_show_only_for_who_may_use_them(role, world, signed_in, client):
    signed_in(role)
    script, run, repository = world["hooks.script"], world["repositories.planrun"], world["repositories.repository"]
    if not holds(role, "hooks.view_script"):
        return
    page = client.get(reverse("admin:hooks_script_change", args=[script.pk])).content.decode()
    assert ('id="test-script"' in page) == holds(role, "hooks.test_script")
    assert ('id="approve-script"' in page) == holds(role, "hooks.approve_script")
    assert ('name="_save"' in page) == holds(role, "hooks.change_script")
    page = client.get(reverse("admin:repositories_planrun_change", args=[run.pk])).content.decode()
    assert ('id="cancel-run"' in page) == holds(role, "repositories.cancel_run")
    page = client.get(reverse("admin:repositories_repository_change", args=[repository.pk])).content.decode()
    assert ('id="change-passphrase"' in page) == holds(role, "repositories.change_repository")
    index = client.get(reverse("admin:index")).content.decode()
    assert ('href="/admin/system/"' in index) == holds(role, SYSTEM_PERMISSION)
    page = client.get(reverse("admin:archives_archive_restore", args=[world["archives.archive"].pk]))
    assert page.status_code == (200 if holds(role, "archives.restore_archive") else 403)
    channel = client.get(reverse("admin:notifications_channel_change", args=[world["notifications.channel"].pk]))
    assert "borgui-secret-token" not in channel.content.decode()
    assert "127.0.0.1" not in channel.content.decode()  # the scheme only, for every role
    assert ('name="url"' in channel.content.decode()) == holds(role, "notifications.change_channel")


def test_a_user_put_in_a_role_group_becomes_staff(outsider, client):
    from tests.conftest import PASSWORDS

    outsider.groups.add(Group.objects.get(name="viewer"))
    client.post("/admin/login/", {"username": "outsider", "password": PASSWORDS["outsider"], "next": "/admin/"})
    assert client.get("/admin/repositories/repository/").status_code == 200


def test_a_staff_member_without_a_group_sees_nothing_to_use(signed_in, client, world):
    signed_in("staff")
    assert "You don’t have permission to view or edit anything." in client.get("/admin/").content.decode()


def test_a_forbidden_page_is_a_403_page_that_says_why(signed_in, client, world):
    signed_in("viewer")
    response = client.get(reverse("admin:hooks_script_test", args=[world["hooks.script"].pk]))
    assert response.status_code == 403
    assert "You do not have permission" in response.content.decode()


def test_an_operator_tests_the_saved_body_but_cannot_change_it(signed_in, client, world):
    from hooks.tasks import run_script_test

    signed_in("operator")
    script = world["hooks.script"]  # not approved: a test needs the test permission only
    change = reverse("admin:hooks_script_change", args=[script.pk])
    forged = {"name": script.name, "body": "#!/bin/sh\necho forged\n", "timeout": 5, "execution_target": "local"}
    assert client.post(change, forged).status_code == 403
    response = client.post(
        reverse("admin:hooks_script_test", args=[script.pk]), {**forged, **_post_data("admin:hooks_script_test")}
    )
    assert response.status_code == 302
    execution = ScriptExecution.objects.filter(hook_type="test").latest("pk")
    run_script_test(execution.pk)
    execution.refresh_from_db()
    assert execution.stdout == "saved body\n"
    script.refresh_from_db()
    assert script.body == "#!/bin/sh\necho saved body\n"
