"""The dashboard's JSON view: every active run with its jobs' estimates (docs/dashboard.md#progress)."""

from django.core.exceptions import PermissionDenied
from django.http import JsonResponse

from dashboard import services
from repositories import progress


def progress_view(request):
    if not request.user.has_perm("repositories.view_planrun"):
        raise PermissionDenied
    return JsonResponse(progress.payload(services.running_runs()))
