"""Settings > System > Packages: add a package, watch its install, install again, refresh, remove.

Installs are queued for the worker (``services.queue_install``), never run in the request.
Adding and installing need ``packages_admin.install_package`` (superusers have it).
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from common.admin import GuardedInputAdminMixin
from packages_admin import services
from packages_admin.models import PackageInstall

INSTALL_PERMISSION = "packages_admin.install_package"
DETAIL_FIELDS = (
    "name",
    "status",
    "installed_version",
    "exit_code",
    "created_at",
    "started_at",
    "finished_at",
    "updated_at",
    "log_display",
)
NOT_UNINSTALLED = (
    "Removing a package from the list does not uninstall it: it stays installed until the container is "
    "recreated, and is then no longer reinstalled."
)


def _packages(count: int) -> str:
    return f"{count} package" if count == 1 else f"{count} packages"


@admin.register(PackageInstall)
class PackageInstallAdmin(GuardedInputAdminMixin, admin.ModelAdmin):
    list_display = ("name", "status", "installed_version", "exit_code", "updated_at")
    list_filter = ("status",)
    search_fields = ("name",)
    ordering = ("name",)
    actions = ("install_again", "refresh_status", "remove_from_list")

    # --- permissions -----------------------------------------------------------------------

    def has_install_permission(self, request) -> bool:
        return request.user.is_active and request.user.has_perm(INSTALL_PERMISSION)

    def has_add_permission(self, request) -> bool:
        # Adding a package installs it.
        return super().has_add_permission(request) and self.has_install_permission(request)

    # --- pages ----------------------------------------------------------------------------

    def get_queryset(self, request):
        # The list never shows the log: do not load it for every row.
        queryset = super().get_queryset(request)
        match = getattr(request, "resolver_match", None)
        return queryset.defer("log") if match and match.url_name.endswith("_changelist") else queryset

    def get_fields(self, request, obj=None):
        return ("name",) if obj is None else DETAIL_FIELDS

    def get_readonly_fields(self, request, obj=None):
        # A recorded package is a record of what happened: nothing on it is edited by hand.
        return () if obj is None else DETAIL_FIELDS

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "Remove from list" says what it does (and does not)
        return actions

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "name":
            # The validator judges exactly what was typed: " hello" or "hello\n" is refused, not trimmed.
            kwargs["strip"] = False
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="log")
    def log_display(self, obj: PackageInstall) -> str:
        return format_html('<pre class="package-log">{}</pre>', obj.log or "(nothing yet)")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            services.queue_install(obj, new=True)
            self.message_user(request, f"Queued {obj.name}: a worker installs it, and this page shows its log.")

    def response_add(self, request, obj, post_url_continue=None):
        # Straight to the package's page, where the install log appears.
        if "_addanother" in request.POST or "_popup" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        return HttpResponseRedirect(reverse("admin:packages_admin_packageinstall_change", args=[obj.pk]))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and object_id is not None:
            for button, action in (("_install_again", self.install_again), ("_refresh_status", self.refresh_status)):
                if button in request.POST:
                    if not all(getattr(self, f"has_{name}_permission")(request) for name in action.allowed_permissions):
                        raise PermissionDenied
                    action(request, self.get_queryset(request).filter(pk=object_id))
                    return HttpResponseRedirect(request.path)
        extra_context = {
            **(extra_context or {}),
            "can_install": self.has_install_permission(request),
            "not_uninstalled": NOT_UNINSTALLED,
        }
        if object_id is not None:
            extra_context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        extra_context = {**(extra_context or {}), "not_uninstalled": NOT_UNINSTALLED}
        return super().delete_view(request, object_id, extra_context)

    def response_delete(self, request, obj_display, obj_id):
        self.message_user(request, NOT_UNINSTALLED)
        return super().response_delete(request, obj_display, obj_id)

    # --- actions: thin, the work is in services ----------------------------------------------

    @admin.action(description="Install again", permissions=["install"])
    def install_again(self, request, queryset):
        queued = skipped = 0
        for package in queryset:
            if services.queue_install(package):
                queued += 1
            else:
                skipped += 1
        if queued:
            self.message_user(request, f"{_packages(queued)} queued for installation on the worker.")
        if skipped:
            self.message_user(request, f"{_packages(skipped)} skipped: already queued or installing.", messages.WARNING)

    @admin.action(description="Refresh status (dpkg-query on the worker)", permissions=["change"])
    def refresh_status(self, request, queryset):
        # Asked where hooks run: in a split set-up the web container has none of the packages.
        ids = list(queryset.values_list("pk", flat=True))
        services.queue_refresh(ids)
        self.message_user(
            request, f"{_packages(len(ids))}: the worker checks the status with dpkg-query; reload in a moment."
        )

    @admin.action(description="Remove from list (does not uninstall)", permissions=["delete"])
    def remove_from_list(self, request, queryset):
        count, _ = queryset.delete()
        self.message_user(request, f"Removed {_packages(count)} from the list. {NOT_UNINSTALLED}")
