"""The admin's System page (docs/docker-hooks.md): this web process's report beside a worker's.

Hooks run on the workers, so what matters most is a worker's view of borg and Docker: the
page queues ``system.tasks.system_report`` and shows "waiting for a worker" (reloading
itself) until one has answered. It needs ``accounts.view_system`` (docs/security.md): the
report shows how the machine is set up, and each visit queues a task.
"""

import re
import types

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django_q.models import Task
from django_q.tasks import async_task, fetch

from accounts.roles import SYSTEM_PERMISSION
from system.report import report_as_dict, system_report

REPORT_TASK = "system.tasks.system_report"
REPORT_GROUP = "system-report"
_TASK_ID = re.compile(r"\A[0-9a-f]{32}\Z")
REFRESH_SECONDS = 2


def system_view(request):
    if not request.user.has_perm(SYSTEM_PERMISSION):
        raise PermissionDenied
    task_id = request.GET.get("task", "")
    if not _TASK_ID.match(task_id):
        task_id = async_task(REPORT_TASK, q_options={"timeout": 120, "group": REPORT_GROUP})
        return redirect(f"{reverse('system')}?task={task_id}")
    web = system_report()
    context = {
        **admin.site.each_context(request),
        "title": "System",
        "web": report_as_dict(web),
        "refresh_seconds": REFRESH_SECONDS,
        **_worker_context(task_id),
    }
    return TemplateResponse(request, "admin/system.html", context)


def _worker_context(task_id: str) -> dict:
    task = fetch(task_id)
    if task is None:
        return {"waiting": True}
    result = task.result
    if not task.success or not isinstance(result, dict):
        first = str(result or "no result").strip().splitlines()
        return {"worker_error": first[-1] if first else "no result", "worker_finished": task.stopped}
    return {"worker": result, "worker_finished": task.stopped}


def latest_worker_report() -> tuple[dict | None, object]:
    """The last report a worker gave for the System page, and when (one query, no borg or
    Docker call): what the dashboard summarises (docs/dashboard.md)."""
    task = Task.objects.filter(group=REPORT_GROUP, success=True).order_by("-stopped").only("result", "stopped").first()
    if task is None or not isinstance(task.result, dict):
        return None, None
    return task.result, task.stopped


def add_system_link(site: admin.AdminSite) -> None:
    """List the System page under the admin's "System" heading (beside Packages)."""
    original = site.get_app_list

    def get_app_list(self, request, app_label=None):
        app_list = original(request, app_label)
        if not request.user.has_perm(SYSTEM_PERMISSION) or app_label not in (None, "packages_admin"):
            return app_list
        entry = {
            "name": "System status",
            "object_name": "SystemStatus",
            "perms": {"view": True},
            "admin_url": reverse("system"),
            "add_url": None,
            "view_only": True,
        }
        for app in app_list:
            if app["app_label"] == "packages_admin":
                app["models"].insert(0, entry)
                return app_list
        if app_label is None:
            app_list.append(
                {"name": "System", "app_label": "packages_admin", "app_url": reverse("system"), "models": [entry]}
            )
        return app_list

    site.get_app_list = types.MethodType(get_app_list, site)
