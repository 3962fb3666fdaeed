"""The admin of maintenance (docs/maintenance.md): the job pages, and the schedules,
buttons and history on the repository and plan pages."""

from django.contrib import admin

from borgui.admin_mixins import ReadOnlyInlineMixin  # noqa: F401
from maintenance.models import MaintenanceJob


@admin.register(MaintenanceJob)
class MaintenanceJobAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "status", "trigger", "created", "finished", "reason"]
    list_filter = ["kind", "status"]
    list_select_related = ["repository", "plan"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
