"""The one role → permission matrix (docs/security.md, "Permission matrix", is generated from it).

Three groups: ``viewer`` sees everything but secrets; ``operator`` also runs plans, cancels
runs, tests saved scripts and starts checks, with no add, change or delete permission;
``admin`` does everything. Superusers hold every permission whatever their groups.

The matrix names permissions as ``app_label.codename``. ``sync_role_groups`` gives each group
exactly the permissions of its role that exist, and reports the ones that do not (an app
not installed, or not merged yet) instead of failing: tests/test_roles.py asserts that every
permission named here exists and that every permission of the apps listed in
``COVERED_APPS`` is named here, so nothing new goes unassigned.
"""

from django.db import models

SYSTEM_PERMISSION = "accounts.view_system"


class Role(models.TextChoices):
    VIEWER = "viewer", "viewer"
    OPERATOR = "operator", "operator"
    ADMIN = "admin", "admin"


EVERYONE = frozenset(Role)
RUNNERS = frozenset({Role.OPERATOR, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})
WRITE_ACTIONS = ("add", "change", "delete")

# Stored objects: who may view them. Adding, changing and deleting is the admin's alone.
OBJECTS: dict[str, frozenset[Role]] = {
    "repositories.sshconnection": EVERYONE,
    "repositories.repository": EVERYONE,
    "repositories.backupplan": EVERYONE,
    "repositories.planrepository": EVERYONE,
    "repositories.planrun": EVERYONE,
    "repositories.repositoryjob": EVERYONE,
    "repositories.containerstop": EVERYONE,
    "repositories.repositorylease": EVERYONE,
    "repositories.repositoryhold": EVERYONE,
    "repositories.sourcemount": EVERYONE,
    "hooks.script": EVERYONE,
    "hooks.scriptparameter": EVERYONE,
    "hooks.scriptapproval": EVERYONE,
    "hooks.hookattachment": EVERYONE,
    "hooks.scriptexecution": EVERYONE,
    "packages_admin.packageinstall": EVERYONE,
    # Browsing an archive is its view permission; deleting one is the admin's (docs/archives.md).
    "archives.archive": EVERYONE,
    "archives.archiveliststate": EVERYONE,
    "archives.archiveindex": EVERYONE,
    "archives.archiveentry": EVERYONE,
    "archives.restorejob": EVERYONE,
    # Channel and ping URLs are shown as their scheme only; writing them is the admin's
    # (notifications.change_channel guards the plan's ping URL too, docs/notifications.md).
    "notifications.channel": EVERYONE,
    "notifications.planmonitoring": EVERYONE,
    "notifications.event": EVERYONE,
    "notifications.deliveryattempt": EVERYONE,
    "notifications.workerheartbeat": EVERYONE,
    "notifications.metricvalue": EVERYONE,
    "maintenance.repositorymaintenance": EVERYONE,
    "maintenance.planmaintenance": EVERYONE,
    "maintenance.maintenancejob": EVERYONE,
    # Users, groups and the task queue (its arguments and results) are the admin's.
    "auth.user": ADMINS,
    "auth.group": ADMINS,
    "django_q.task": ADMINS,
    "django_q.success": ADMINS,
    "django_q.failure": ADMINS,
    "django_q.schedule": ADMINS,
    "django_q.ormq": ADMINS,
    # Failed sign-ins: deleting an access attempt unlocks its user name or address.
    "axes.accessattempt": ADMINS,
    "axes.accessattemptexpiration": ADMINS,
    "axes.accesslog": ADMINS,
    "axes.accessfailurelog": ADMINS,
    # Two-factor devices: deleting a user's devices lets them enrol again (a lost phone).
    "otp_totp.totpdevice": ADMINS,
    "otp_static.staticdevice": ADMINS,
    "otp_static.statictoken": ADMINS,
}

# Things to do, each its own permission: who may, and what it allows.
ACTIONS: dict[str, tuple[frozenset[Role], str]] = {
    "repositories.run_plan": (RUNNERS, "Run a plan now"),
    "repositories.cancel_run": (RUNNERS, "Cancel a run in progress"),
    "repositories.check_repository": (RUNNERS, "Start a repository check (borg check)"),
    "hooks.test_script": (RUNNERS, "Test a saved script (it runs the saved body, approved or not)"),
    "archives.download_archive": (RUNNERS, "Download files and directories from archives (reads every file)"),
    "archives.restore_archive": (RUNNERS, "Restore archives and cancel restores (within BORGUI_RESTORE_ROOTS)"),
    "maintenance.run_maintenance": (RUNNERS, "Start and cancel checks, verifies and restore drills"),
    SYSTEM_PERMISSION: (RUNNERS, "See the System page (this machine's and a worker's report)"),
    "repositories.break_lock": (ADMINS, "Break a repository's borg lock"),
    "archives.restore_anywhere": (ADMINS, "Restore to a target outside BORGUI_RESTORE_ROOTS"),
    "maintenance.compact_repository": (ADMINS, "Compact a repository (frees deleted archives' space for good)"),
    "hooks.approve_script": (ADMINS, "Approve scripts and inline hooks for backups"),
    "packages_admin.install_package": (ADMINS, "Install system packages on the workers"),
}

# Apps whose every permission must appear above (tests/test_roles.py). Django's own
# bookkeeping (admin log, content types, sessions, the permission table) is superusers' only.
COVERED_APPS = (
    "accounts",
    "repositories",
    "hooks",
    "packages_admin",
    "archives",
    "notifications",
    "maintenance",
    "auth",
    "django_q",
    "axes",
    "otp_totp",
    "otp_static",
)
UNASSIGNED = frozenset(f"auth.{action}_permission" for action in ("add", "change", "delete", "view"))


def object_permissions(model_label: str, viewers: frozenset[Role]) -> dict[str, frozenset[Role]]:
    app_label, model_name = model_label.split(".")
    permissions = {f"{app_label}.view_{model_name}": viewers}
    permissions.update({f"{app_label}.{action}_{model_name}": ADMINS for action in WRITE_ACTIONS})
    return permissions


def matrix() -> dict[str, frozenset[Role]]:
    """Every permission the matrix names, with the roles that hold it."""
    permissions: dict[str, frozenset[Role]] = {}
    for model_label, viewers in OBJECTS.items():
        permissions.update(object_permissions(model_label, viewers))
    permissions.update({name: roles for name, (roles, _) in ACTIONS.items()})
    return permissions


def role_permissions(role: Role) -> set[str]:
    return {name for name, roles in matrix().items() if role in roles}


def sync_role_groups(group_model, permission_model) -> list[str]:
    """Give each role's group exactly its permissions; return the named ones that do not exist.

    Takes the models so that migrations can pass their historical ones.
    """
    existing = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in permission_model.objects.values_list("pk", "content_type__app_label", "codename")
    }
    for role in Role:
        group, _ = group_model.objects.get_or_create(name=role.value)
        group.permissions.set(existing[name] for name in sorted(role_permissions(role)) if name in existing)
    return sorted(name for name in matrix() if name not in existing)


def create_all_permissions(apps=None, verbosity: int = 0) -> None:
    """Create the permissions of every installed app now (Django does it only after the last
    migration, too late for a data migration that hands them out)."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    for app_config in (apps or global_apps).get_app_configs():
        if apps is not None:
            # A migration's app configs carry no models module, and create_permissions skips those.
            app_config.models_module = True
        create_permissions(app_config, verbosity=verbosity, apps=apps or global_apps)


def sync_from_migration(apps, schema_editor) -> None:
    create_all_permissions(apps)
    sync_role_groups(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def sync_groups() -> list[str]:
    from django.contrib.auth.models import Group, Permission

    create_all_permissions()
    return sync_role_groups(Group, Permission)


def sync_after_migrate(sender, **kwargs) -> None:
    sync_groups()


def markdown_matrix() -> str:
    """The matrix as docs/security.md shows it."""
    roles = list(Role)
    lines = [
        "| Objects | " + " | ".join(role.value for role in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for model_label, viewers in OBJECTS.items():
        cells = [
            "view, add, change, delete" if role in ADMINS else ("view" if role in viewers else "—") for role in roles
        ]
        lines.append(f"| `{model_label}` | " + " | ".join(cells) + " |")
    lines += ["", "| Action | Permission | " + " | ".join(role.value for role in roles) + " |"]
    lines.append("|---|---|" + "---|" * len(roles))
    for name, (holders, what) in ACTIONS.items():
        cells = ["yes" if role in holders else "—" for role in roles]
        lines.append(f"| {what} | `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
