"""The admin of maintenance (docs/maintenance.md): job pages that follow the job, the
schedules on the repository and plan pages, "Check now", "Compact now", "Verify now" and
"Drill now" (queued on the worker), and the history of results."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse

from common.admin import ObjectButton, ObjectSection, add_buttons, add_sections, confirmation_page
from common.humanize import human_size
from hooks.admin import AttachmentFormSet
from maintenance.models import (
    MaintenanceJob,
    MaintenanceKind,
    MaintenanceTrigger,
    PlanMaintenance,
    RepositoryMaintenance,
)
from maintenance.services import jobs
from maintenance.services.scheduling import verify_options
from repositories.admin import ScheduleHelpMixin, status_badge
from repositories.models import BackupPlan, Repository
from repositories.status import Status

HISTORY = 10
RUN_PERMISSION = "maintenance.run_maintenance"


@admin.register(MaintenanceJob)
class MaintenanceJobAdmin(admin.ModelAdmin):
    view_on_site = False  # its page is this page
    list_display = ["__str__", "kind", "status_shown", "trigger", "created", "finished", "freed_shown", "reason"]
    list_filter = ["kind", "status", "trigger"]
    list_select_related = ["repository", "plan"]
    readonly_fields = [
        "kind", "repository", "plan", "status_shown", "reason", "trigger", "requested_by", "options", "progress",
        "size_before_shown", "size_after_shown", "results", "script_execution", "scheduled_for", "created",
        "started", "finished", "heartbeat", "worker", "cancel_requested", "log",
    ]  # fmt: skip
    fields = readonly_fields
    change_form_template = "admin/maintenance/maintenancejob/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="status")
    def status_shown(self, job):
        return status_badge(job.status)

    @admin.display(description="size before")
    def size_before_shown(self, job):
        return human_size(job.size_before)

    @admin.display(description="size after")
    def size_after_shown(self, job):
        return human_size(job.size_after)

    @admin.display(description="freed")
    def freed_shown(self, job):
        return human_size(job.freed) if job.freed is not None else "—"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/cancel/", view(self.cancel_view), name="maintenance_maintenancejob_cancel"),
            path("start/<str:kind>/<int:pk>/", view(self.start_view), name="maintenance_maintenancejob_start"),
            *super().get_urls(),
        ]

    def cancel_view(self, request, pk):
        if request.method != "POST":
            return redirect("admin:maintenance_maintenancejob_change", pk)
        if not request.user.has_perm(RUN_PERMISSION):
            raise PermissionDenied
        job = MaintenanceJob.objects.filter(pk=pk).first()
        if job and jobs.request_cancel(job):
            self.message_user(request, f"Job {pk}: cancel requested.", messages.SUCCESS)
        else:
            self.message_user(request, f"Job {pk} is not running.", messages.WARNING)
        return redirect("admin:maintenance_maintenancejob_change", pk)

    def start_view(self, request, kind, pk):
        """Record the job and queue it on the worker; the page then follows it."""
        if kind not in MaintenanceKind.values:
            raise Http404("no such maintenance")
        kind = MaintenanceKind(kind)
        owner_model = BackupPlan if kind.per_plan else Repository
        owner = owner_model.objects.filter(pk=pk).first()
        if owner is None:
            raise Http404("no such repository or plan")
        back = f"admin:repositories_{owner_model._meta.model_name}_change"
        if not request.user.has_perm(kind.permission):
            raise PermissionDenied
        if request.method != "POST":
            owner_admin = self.admin_site.get_model_admin(owner_model)
            return confirmation_page(
                request, owner_admin, owner, f"{kind.label} {owner.name} now?", ["It runs on the worker."],
                button=f"Yes, {kind.label.lower()} now",
            )  # fmt: skip
        try:
            job = jobs.create_job(kind, trigger=MaintenanceTrigger.ADMIN, requested_by=request.user.get_username(),
                                  options=_options(kind, owner), **_owner_fields(kind, owner))  # fmt: skip
        except jobs.AlreadyRunning as e:
            self.message_user(request, str(e), messages.WARNING)
            return redirect(back, pk)
        jobs.queue(job)
        self.message_user(
            request, f"{kind.label} of {owner.name} queued on the worker (job {job.pk}).", messages.SUCCESS
        )
        return redirect("admin:maintenance_maintenancejob_change", job.pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "job_active": bool(job and Status(job.status).is_active),
            "can_cancel": request.user.has_perm(RUN_PERMISSION),
        }
        return super().change_view(request, object_id, form_url, extra_context)


def _owner_fields(kind: MaintenanceKind, owner) -> dict:
    return {"plan": owner} if kind.per_plan else {"repository": owner}


def _options(kind: MaintenanceKind, owner) -> dict:
    settings = getattr(owner, "maintenance", None)
    if kind == MaintenanceKind.CHECK:
        return settings.check_options() if settings else {}
    if kind == MaintenanceKind.VERIFY:
        return verify_options(settings)
    return {}


def history(**owner) -> list[MaintenanceJob]:
    return list(MaintenanceJob.objects.filter(**owner).order_by("-created", "-id")[:HISTORY])


# --- the repository page -------------------------------------------------------------------


class RepositoryMaintenanceForm(ScheduleHelpMixin, forms.ModelForm):
    schedule_fields = (("check_schedule", "check_timezone"), ("compact_schedule", "compact_timezone"))

    class Meta:
        model = RepositoryMaintenance
        fields = ["check_schedule", "check_timezone", "check_verify_data", "check_max_duration",
                  "compact_schedule", "compact_timezone", "compact_after_prune"]  # fmt: skip


class RepositoryMaintenanceInline(admin.StackedInline):
    model = RepositoryMaintenance
    form = RepositoryMaintenanceForm
    formset = AttachmentFormSet  # a post without this inline (an older client) changes nothing
    max_num = 1
    can_delete = False
    verbose_name_plural = "maintenance (check and compact schedules)"
    fields = [
        ("check_schedule", "check_timezone"), ("check_verify_data", "check_max_duration"),
        ("compact_schedule", "compact_timezone"), "compact_after_prune",
    ]  # fmt: skip


RepositoryAdminBase = type(admin.site._registry[Repository])


class MaintainedRepositoryAdmin(RepositoryAdminBase):
    inlines = [*RepositoryAdminBase.inlines, RepositoryMaintenanceInline]

    @admin.action(description="Check (queued on the worker)", permissions=["run_maintenance"])
    def check_repository(self, request, queryset):
        for repository in queryset:
            try:
                job = jobs.create_job(
                    MaintenanceKind.CHECK, repository=repository, trigger=MaintenanceTrigger.ADMIN,
                    options=_options(MaintenanceKind.CHECK, repository), requested_by=request.user.get_username(),
                )  # fmt: skip
            except jobs.AlreadyRunning as e:
                self.message_user(request, str(e), messages.WARNING)
                continue
            jobs.queue(job)
            self.message_user(request, f"{repository.name}: check queued (job {job.pk}).", messages.SUCCESS)

    def has_run_maintenance_permission(self, request):
        return request.user.has_perm(RUN_PERMISSION)


admin.site.unregister(Repository)
admin.site.register(Repository, MaintainedRepositoryAdmin)


# --- the plan page -------------------------------------------------------------------------


class PlanMaintenanceForm(ScheduleHelpMixin, forms.ModelForm):
    schedule_fields = (("verify_schedule", "verify_timezone"), ("drill_schedule", "drill_timezone"))

    drill_parameters = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField"}),
        help_text="NAME=VALUE, one per line. Secret values are never shown: leave them out to keep the stored ones.",
    )
    drill_paths = forms.JSONField(required=False, widget=forms.Textarea(attrs={"rows": 2}), initial=list,
                                  help_text='Archive paths to restore for the drill, e.g. ["srv/dumps"].')  # fmt: skip

    class Meta:
        model = PlanMaintenance
        fields = [
            "verify_schedule", "verify_timezone", "sample_percent", "count_tolerance_percent", "drill_script",
            "drill_paths", "drill_schedule", "drill_timezone",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.drill_script_id:
            secret = self._secret_names(self.instance.drill_script)
            values = self.instance.drill_values()
            self.initial["drill_parameters"] = "\n".join(
                f"{k}={v}" for k, v in sorted(values.items()) if k not in secret
            )

    @staticmethod
    def _secret_names(script) -> set[str]:
        return set(script.parameters.filter(secret=True).values_list("name", flat=True)) if script else set()

    def clean_drill_parameters(self):
        values = {}
        for number, line in enumerate(self.cleaned_data.get("drill_parameters", "").splitlines(), 1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise forms.ValidationError(f"Line {number}: write NAME=VALUE.")
            values[name.strip()] = value
        return values

    def clean(self):
        cleaned = super().clean()
        script = cleaned.get("drill_script")
        given = cleaned.get("drill_parameters") or {}
        kept = {}
        if self.instance.pk and script and script.pk == self.instance.drill_script_id:
            secret = self._secret_names(script)
            kept = {k: v for k, v in self.instance.drill_values().items() if k in secret and k not in given}
        self.instance.set_drill_values({**kept, **given})
        return cleaned


class PlanMaintenanceInline(admin.StackedInline):
    model = PlanMaintenance
    form = PlanMaintenanceForm
    formset = AttachmentFormSet
    max_num = 1
    can_delete = False
    verbose_name_plural = "verification (spot check and restore drill)"
    fields = [
        ("verify_schedule", "verify_timezone"), ("sample_percent", "count_tolerance_percent"), "drill_script",
        "drill_paths", "drill_parameters", ("drill_schedule", "drill_timezone"),
    ]  # fmt: skip


PlanAdminBase = type(admin.site._registry[BackupPlan])


class VerifiedBackupPlanAdmin(PlanAdminBase):
    inlines = [*PlanAdminBase.inlines, PlanMaintenanceInline]


admin.site.unregister(BackupPlan)
admin.site.register(BackupPlan, VerifiedBackupPlanAdmin)


# --- buttons and the history on the repository and plan pages --------------------------------

BUTTONS = {  # kind → (element id, label, order among the page's buttons)
    MaintenanceKind.CHECK: ("check-now", "Check now", 20),
    MaintenanceKind.COMPACT: ("compact-now", "Compact now", 30),
    MaintenanceKind.VERIFY: ("verify-now", "Verify now", 20),
    MaintenanceKind.DRILL: ("drill-now", "Drill now", 30),
}


def _buttons(request, owner, kinds) -> list[ObjectButton]:
    buttons = []
    for kind in kinds:
        if request.user.has_perm(kind.permission):
            element_id, label, order = BUTTONS[kind]
            url = reverse("admin:maintenance_maintenancejob_start", args=[kind.value, owner.pk])
            buttons.append(ObjectButton(element_id, label, url, order=order))
    return buttons


def _history_section(**owner) -> list[ObjectSection]:
    return [ObjectSection("admin/maintenance/history.html", {"history": history(**owner)}, order=20)]


add_buttons("repositories.repository", lambda r, o: _buttons(r, o, [MaintenanceKind.CHECK, MaintenanceKind.COMPACT]))
add_buttons("repositories.backupplan", lambda r, o: _buttons(r, o, [MaintenanceKind.VERIFY, MaintenanceKind.DRILL]))
add_sections("repositories.repository", lambda request, repository: _history_section(repository=repository))
add_sections("repositories.backupplan", lambda request, plan: _history_section(plan=plan))
