from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from common.admin import CappedInlineMixin, GuardedInputAdminMixin, ReadOnlyInlineMixin, truncated
from common.forms import LinesField, SecretFieldsMixin, SecretInput
from common.humanize import human_duration, when
from repositories import borg
from repositories.models import (
    BackupPlan,
    ContainerStop,
    LeaseMode,
    PlanRepository,
    PlanRun,
    Repository,
    RepositoryJob,
    SourceMount,
    SourcesOn,
    SSHConnection,
)
from repositories.services import leases, operations, pipeline, runs
from repositories.services.passphrase import PassphraseChangeError, change_passphrase
from repositories.services.retention import plan_repository_problems
from repositories.services.scheduling import next_slot, upcoming_runs
from repositories.status import Status
from repositories.validators import CRON_HELP


def status_badge(status: str):
    colour = Status(status).colour if status in Status.values else Status.PENDING.colour
    return format_html('<strong class="status-{}" style="color:{}">{}</strong>', status, colour, status)


class SSHConnectionForm(SecretFieldsMixin, forms.ModelForm):
    secret_fields = ("private_key",)

    class Meta:
        model = SSHConnection
        fields = ["name", "host", "port", "username", "private_key", "known_hosts"]


class SecretFieldsAdminMixin:
    """The admin side of SecretFieldsMixin: shows the "remove the stored …" box that the form
    adds for a secret that is set, and keeps form-only fields out of the model form's fields
    (Django refuses to build a model form naming a non-editable model field or an unknown one)."""

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if obj is not None and not self.has_change_permission(request, obj):
            # A read-only page would display the decrypted value: show only set / not set.
            hidden = {*self.form.secret_fields, *(f"clear_{name}" for name in self.form.secret_fields)}
            return [name for name in fields if name not in hidden] + ["secrets_state"]
        for name in self.form.secret_fields:
            if obj is not None and getattr(obj, name, "") and name in fields:
                fields.insert(fields.index(name) + 1, f"clear_{name}")
        return fields

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "secrets_state"]

    @admin.display(description="secrets")
    def secrets_state(self, obj):
        return "; ".join(
            f"{obj._meta.get_field(name).verbose_name}: {'set' if getattr(obj, name, '') else 'not set'}"
            for name in self.form.secret_fields
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if "fields" not in kwargs:
            kwargs["fields"] = flatten_fieldsets(self.get_fieldsets(request, obj))
        if kwargs["fields"] is not None:
            form_only = {"exported_key", *(f"clear_{name}" for name in self.form.secret_fields)}
            kwargs["fields"] = [name for name in kwargs["fields"] if name not in form_only]
        return super().get_form(request, obj, change, **kwargs)


@admin.register(SSHConnection)
class SSHConnectionAdmin(GuardedInputAdminMixin, SecretFieldsAdminMixin, admin.ModelAdmin):
    form = SSHConnectionForm
    list_display = ["name", "host", "port", "username", "key_set"]
    search_fields = ["name", "host"]

    @admin.display(boolean=True, description="private key")
    def key_set(self, obj):
        return bool(obj.private_key)


class RepositoryForm(SecretFieldsMixin, forms.ModelForm):
    secret_fields = ("passphrase", "exported_key")
    exported_key = forms.CharField(
        required=False,
        label="Key file",
        help_text="keyfile modes only: the exported borg key (borg key export), to import an existing repository.",
    )

    class Meta:
        model = Repository
        fields = [
            "name",
            "location",
            "encryption",
            "passphrase",
            "source_connection",
            "pre_backup_script",
            "post_backup_script",
        ]

    def save(self, commit=True):
        repository = super().save(commit=False)
        repository.exported_key = self.cleaned_data.get("exported_key", "") or ""
        if commit:
            repository.save()
        return repository


class ChangePassphraseForm(forms.Form):
    new_passphrase = forms.CharField(strip=False, widget=SecretInput())
    confirm_passphrase = forms.CharField(
        label="New passphrase again",
        strip=False,
        widget=SecretInput(),
    )

    def clean(self):
        data = super().clean()
        if data.get("new_passphrase") and data.get("confirm_passphrase") != data["new_passphrase"]:
            raise ValidationError("The two passphrases differ.")
        return data


@admin.register(Repository)
class RepositoryAdmin(GuardedInputAdminMixin, SecretFieldsAdminMixin, admin.ModelAdmin):
    form = RepositoryForm
    list_display = ["name", "location", "encryption", "source_connection", "passphrase_set", "last_backup"]
    list_select_related = ["source_connection"]
    search_fields = ["name", "location"]
    actions = ["initialise", "import_existing", "check_repository", "list_archives", "break_lock"]

    # The page leads with what every repository needs; a key file and the legacy inline
    # hooks (docs/hooks.md#legacy-inline-hooks) are folded away.
    ADVANCED_FIELDS = ("exported_key", "clear_exported_key")
    LEGACY_FIELDS = ("pre_backup_script", "post_backup_script")

    def get_fieldsets(self, request, obj=None):
        fields = self.get_fields(request, obj)
        folded = (*self.ADVANCED_FIELDS, *self.LEGACY_FIELDS)
        in_use = obj is not None and any(getattr(obj, name, "").strip() for name in self.LEGACY_FIELDS)
        groups = [
            (None, [name for name in fields if name not in folded], []),
            ("Advanced", [name for name in fields if name in self.ADVANCED_FIELDS], ["collapse"]),
            (
                "Legacy inline hooks" + (" (in use)" if in_use else ""),
                [name for name in fields if name in self.LEGACY_FIELDS],
                ["collapse"],
            ),
        ]
        return [(title, {"fields": names, "classes": classes}) for title, names, classes in groups if names]

    def get_queryset(self, request):
        last = RepositoryJob.objects.filter(repository=OuterRef("pk"), finished__isnull=False).order_by("-finished")
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_status=Subquery(last.values("status")[:1]), last_finished=Subquery(last.values("finished")[:1])
            )
        )

    @admin.display(boolean=True, description="passphrase")
    def passphrase_set(self, obj):
        return bool(obj.passphrase)

    @admin.display(description="last backup")
    def last_backup(self, obj):
        if not obj.last_status:
            return "—"
        return format_html("{} {}", status_badge(obj.last_status), obj.last_finished.strftime("%Y-%m-%d %H:%M"))

    def _each(self, request, queryset, verb: str, operation, describe):
        done = 0
        for repository in queryset:
            result = operation(repository)
            if result.ok:
                done += 1
                self.message_user(request, f"{repository.name}: {describe(repository, result)}", messages.SUCCESS)
            else:
                self.message_user(request, f"{repository.name}: {verb} failed: {result.error_line()}", messages.ERROR)
        return done

    # borg runs on the worker, under the repository's lease; the page follows the results.
    def _queue(self, request, queryset, operation: str):
        task_ids = []
        for repository in queryset:
            refused = borg.refused_location(repository)  # said at once: no worker needed to refuse it
            if refused is not None:
                self.message_user(request, f"{repository.name}: {refused.error_line()}", messages.ERROR)
            else:
                task_ids.append(operations.queue(operation, repository))
        if not task_ids:
            return None
        query = "&".join(f"task={task_id}" for task_id in task_ids)
        return redirect(reverse("admin:repositories_repository_operations") + f"?{query}")

    @admin.action(description="Initialise (borg init)", permissions=["change"])
    def initialise(self, request, queryset):
        return self._queue(request, queryset, "init")

    @admin.action(description="Import existing (verify passphrase with borg info)", permissions=["change"])
    def import_existing(self, request, queryset):
        return self._queue(request, queryset, "import")

    @admin.action(description="Check (borg check)", permissions=["check"])
    def check_repository(self, request, queryset):
        return self._queue(request, queryset, "check")

    @admin.action(description="List archives", permissions=["view"])
    def list_archives(self, request, queryset):
        return self._queue(request, queryset, "list")

    def operations_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        task_ids = request.GET.getlist("task")[:100]
        found = operations.results(task_ids)
        context = {
            **self.admin_site.each_context(request),
            "title": "Repository actions",
            "opts": self.model._meta,
            "results": found,
            "waiting": any(result is None for result in found),
        }
        return TemplateResponse(request, "admin/repositories/repository/operations.html", context)

    @admin.action(description="Break the borg lock…", permissions=["break_lock"])
    def break_lock(self, request, queryset):
        if request.POST.get("confirmed") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Break the borg lock?",
                "repositories": queryset,
                "opts": self.model._meta,
                "action": "break_lock",
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/repositories/break_lock_confirm.html", context)
        for repository in queryset:
            holder = _active_holder(repository)
            if holder:
                self.message_user(
                    request,
                    f"{repository.name}: not broken — run {holder.pk} of {holder.plan} is writing it",
                    messages.ERROR,
                )
                continue
            try:  # nothing else borgui runs may be using the lock it breaks; the page never waits
                with leases.hold(repository, LeaseMode.WRITE, "break-lock (admin)", wait_seconds=0):
                    self._each(request, [repository], "break-lock", borg.break_lock, lambda r, res: "lock broken")
            except leases.RepositoryBusy as e:
                self.message_user(request, f"{repository.name}: not broken — {e}", messages.ERROR)
        return None

    def has_break_lock_permission(self, request):
        return request.user.has_perm("repositories.break_lock")

    def has_check_permission(self, request):
        return request.user.has_perm("repositories.check_repository")

    def get_urls(self):
        view = self.admin_site.admin_view(self.change_passphrase_view)
        followed = self.admin_site.admin_view(self.operations_view)
        return [
            path("operations/", followed, name="repositories_repository_operations"),
            path("<path:object_id>/change-passphrase/", view, name="repositories_repository_change_passphrase"),
            *super().get_urls(),
        ]

    def change_passphrase_view(self, request, object_id):
        repository = self.get_object(request, unquote(object_id))
        if repository is None:
            raise Http404(f"No repository with id {object_id!r}.")
        if not self.has_change_permission(request, repository):
            raise PermissionDenied
        form = ChangePassphraseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                change_passphrase(repository, form.cleaned_data["new_passphrase"])
            except PassphraseChangeError as e:
                form.add_error(None, str(e))
            else:
                self.message_user(
                    request,
                    f"Passphrase of {repository.name} changed: borgui uses the new one from now on.",
                    messages.SUCCESS,
                )
                return redirect("admin:repositories_repository_change", repository.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change the passphrase of {repository.name}",
            "subtitle": None,
            "repository": repository,
            "original": repository,
            "subpage": "Change passphrase",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/repositories/repository/change_passphrase.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_change_passphrase": self.has_change_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and form.cleaned_data.get("passphrase") and "passphrase" in form.changed_data:
            # The field is easy to take for the repository's own passphrase: say what it did.
            self.message_user(
                request,
                f"Only the passphrase borgui opens {obj.name} with was replaced, not the repository's own: "
                "Import existing checks that it opens the repository; Change passphrase changes both.",
                messages.WARNING,
            )


def _active_holder(repository):
    return leases.holder(repository)


class PlanRepositoryInline(GuardedInputAdminMixin, CappedInlineMixin, admin.TabularInline):
    model = PlanRepository
    extra = 1
    fields = ["order", "repository"]
    autocomplete_fields = ["repository"]


class ScheduleHelpMixin:
    """Schedule fields say what they accept and, once saved, their next three runs in their
    own zone (docs/running-plans.md#schedules). ``schedule_fields`` pairs each cron field
    with the field of its time zone."""

    schedule_fields: tuple[tuple[str, str], ...] = (("schedule", "timezone"),)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for cron_name, zone_name in self.schedule_fields:
            if cron_name not in self.fields:
                continue
            field = self.fields[cron_name]
            field.help_text = f"{CRON_HELP} {field.help_text.removeprefix('Cron, five fields. ')}"
            cron = getattr(self.instance, cron_name, "") if self.instance.pk else ""
            upcoming = upcoming_runs(cron, getattr(self.instance, zone_name, "")) if cron else ""
            if upcoming:
                field.help_text += f" Next runs: {upcoming}."


class BackupPlanForm(ScheduleHelpMixin, forms.ModelForm):
    sources = LinesField(help_text="Paths to back up, one per line.")
    excludes = LinesField(required=False, help_text="borg exclude patterns, one per line.")
    stop_containers = LinesField(
        required=False,
        help_text="Containers to stop during the backup and start again after it, one per line: a name, or "
        "label:KEY=VALUE (convention: label:borgui.stop-during-backup=true). Stopped after the plan's "
        "pre-backup hooks, started again whatever happens.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A form posted without it (an older page, a script) keeps the default: local. A
        # view-only user's form has no fields at all.
        if "sources_on" in self.fields:
            self.fields["sources_on"].required = False

    def clean_sources_on(self):
        return self.cleaned_data.get("sources_on") or SourcesOn.LOCAL

    class Meta:
        model = BackupPlan
        fields = [
            "name", "enabled", "sources", "excludes", "compression", "archive_name", "schedule", "timezone",
            "keep_within", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly",
            "on_repository_failure", "source_connection", "sources_on", "stop_containers",
        ]  # fmt: skip


class PlanRepositoryFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        repositories = [
            form.cleaned_data["repository"]
            for form in self.forms
            if form.cleaned_data.get("repository") and not form.cleaned_data.get("DELETE")
        ]
        problems = plan_repository_problems(self.instance, repositories)
        if problems:
            raise ValidationError(problems[0])


PlanRepositoryInline.formset = PlanRepositoryFormSet


@admin.register(BackupPlan)
class BackupPlanAdmin(GuardedInputAdminMixin, admin.ModelAdmin):
    form = BackupPlanForm
    inlines = [PlanRepositoryInline]  # the hooks app adds its attachments
    list_display = ["name", "enabled", "schedule", "timezone", "repository_list", "last_run", "next_run"]
    list_filter = ["enabled"]
    search_fields = ["name"]
    actions = ["run_now"]
    fieldsets = [
        (None, {"fields": ["name", "enabled", "sources", "excludes", "compression", "archive_name"]}),
        ("Schedule", {"fields": ["schedule", "timezone"]}),
        (
            "Retention (prune after a backup that did not fail, only this plan's archives)",
            {"fields": [("keep_within", "keep_hourly", "keep_daily"), ("keep_weekly", "keep_monthly", "keep_yearly")]},
        ),
        ("Failures and sources", {"fields": ["on_repository_failure", "source_connection", "sources_on"]}),
        ("Docker", {"fields": ["stop_containers"]}),
    ]

    def get_queryset(self, request):
        last = PlanRun.objects.filter(plan=OuterRef("pk")).order_by("-created", "-id")
        return (
            super()
            .get_queryset(request)
            .prefetch_related("repository_links__repository")
            .annotate(last_status=Subquery(last.values("status")[:1]), last_run_id=Subquery(last.values("pk")[:1]))
        )

    @admin.display(description="repositories")
    def repository_list(self, obj):
        # In the order they are backed up (PlanRepository's ordering), not by name.
        return ", ".join(link.repository.name for link in obj.repository_links.all())

    @admin.display(description="last run")
    def last_run(self, obj):
        if not obj.last_run_id:
            return "—"
        url = reverse("admin:repositories_planrun_change", args=[obj.last_run_id])
        return format_html('<a href="{}">{}</a>', url, status_badge(obj.last_status))

    @admin.display(description="next run")
    def next_run(self, obj):
        if not obj.enabled or not obj.schedule:
            return "manual"
        slot = next_slot(obj, timezone.now())
        return when(slot, slot.tzinfo) if slot else "never (this schedule never runs)"

    @admin.action(description="Run now", permissions=["run"])
    def run_now(self, request, queryset):
        queued = 0
        for plan in queryset:
            try:
                runs.queue_run(plan)
                queued += 1
            except pipeline.PlanAlreadyRunning as e:
                self.message_user(request, str(e), messages.WARNING)
        if queued:
            self.message_user(request, f"{queued} plan run(s) queued.", messages.SUCCESS)

    def has_run_permission(self, request):
        return request.user.has_perm("repositories.run_plan")


class ContainerStopInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = ContainerStop
    verbose_name_plural = "containers stopped by the plan (started again after the backup)"
    fields = ["name", "selector", "container_id", "stopped_at", "stop_error", "started_at", "start_error"]
    readonly_fields = fields


class RepositoryJobInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = RepositoryJob
    fields = ["repository", "status_badge", "archive_name", "borg_exit_code", "progress", "stats", "reason", "log"]
    readonly_fields = fields

    @admin.display(description="status")
    def status_badge(self, job):
        return status_badge(job.status)

    @admin.display(description="progress")
    def progress(self, job):
        if not job.progress_files and not job.progress_bytes:
            return "—"
        return f"{job.progress_files} files, {job.progress_bytes} bytes"

    @admin.display(description="stats")
    def stats(self, job):
        if job.nfiles is None:
            return "—"
        return (
            f"{job.nfiles} files; original {job.original_size}, compressed {job.compressed_size}, "
            f"deduplicated {job.deduplicated_size} bytes"
        )


class SourceMountInline(ReadOnlyInlineMixin, admin.TabularInline):
    """Where each source came from, for plans whose sources are on the source host."""

    model = SourceMount
    verbose_name_plural = "sources mounted from the source host"
    fields = ["job", "source", "host", "mount_point", "mounted_at", "unmounted_at", "error"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("job__repository", "job__run__plan")


@admin.register(PlanRun)
class PlanRunAdmin(GuardedInputAdminMixin, admin.ModelAdmin):
    # Fits 1280 px: when it was queued or started and what started it are on the run's page
    # (and filters); the plan and the reason are cut to one line.
    list_display = ["run_number", "plan_shown", "status_badge", "finished_shown", "duration_shown", "reason_shown"]
    list_display_links = ["run_number"]
    list_filter = ["status", "trigger", "plan"]
    list_select_related = ["plan"]
    inlines = [RepositoryJobInline, ContainerStopInline, SourceMountInline]  # the hooks app adds its hook runs
    readonly_fields = [
        "plan", "status_badge", "trigger", "reason", "scheduled_for", "created", "started", "finished",
        "heartbeat", "worker", "cancel_requested", "log",
    ]  # fmt: skip
    fields = readonly_fields
    actions = ["cancel"]
    change_form_template = "admin/repositories/planrun/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="status")
    def status_badge(self, run):
        return status_badge(run.status)

    @admin.display(description="run", ordering="id")
    def run_number(self, run):
        return f"#{run.pk}"

    @admin.display(description="plan", ordering="plan__name")
    def plan_shown(self, run):
        return truncated(run.plan.name, "narrow")

    @admin.display(description="duration")
    def duration_shown(self, run):
        return human_duration(run.duration)

    @admin.display(description="finished", ordering="finished")
    def finished_shown(self, run):
        return when(run.finished)

    @admin.display(description="reason")
    def reason_shown(self, run):
        return truncated(run.reason, "medium")

    @admin.action(description="Cancel", permissions=["cancel"])
    def cancel(self, request, queryset):
        cancelled = sum(1 for run in queryset if runs.request_cancel(run))
        self.message_user(request, f"{cancelled} run(s) cancelled or asked to stop.", messages.SUCCESS)

    def has_cancel_permission(self, request):
        return request.user.has_perm("repositories.cancel_run")

    def get_urls(self):
        return [
            path("<int:pk>/cancel/", self.admin_site.admin_view(self.cancel_view), name="repositories_planrun_cancel"),
            *super().get_urls(),
        ]

    def cancel_view(self, request, pk):
        if request.method != "POST":
            return redirect("admin:repositories_planrun_change", pk)
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        run = PlanRun.objects.filter(pk=pk).first()
        if run and runs.request_cancel(run):
            self.message_user(request, f"Run {pk}: cancel requested.", messages.SUCCESS)
        else:
            self.message_user(request, f"Run {pk} is not running.", messages.WARNING)
        return redirect("admin:repositories_planrun_change", pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, unquote(object_id))  # None for an id that names no run
        extra_context = {
            **(extra_context or {}),
            "run_active": bool(run and Status(run.status).is_active),
            "can_cancel": self.has_cancel_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)
