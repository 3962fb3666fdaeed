from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from common.admin import (
    CappedInlineMixin,
    GuardedInputAdminMixin,
    ObjectButton,
    ObjectPageMixin,
    ReadOnlyInlineMixin,
    add_buttons,
    confirmation_page,
    truncated,
)
from common.forms import LinesField, SecretFieldsMixin, SecretInput
from common.humanize import human_duration, when
from common.pagination import TwoEndedPaginator
from repositories import borg, progress
from repositories.models import (
    BackupPlan,
    LeaseMode,
    PlanRepository,
    PlanRun,
    Repository,
    RepositoryJob,
    SourceMount,
    SourcesOn,
    SSHConnection,
)
from repositories.services import leases, operations, pipeline, preview, runs
from repositories.services.passphrase import PassphraseChangeError, change_passphrase
from repositories.services.retention import plan_repository_problems
from repositories.services.scheduling import next_slot, upcoming_runs
from repositories.status import Status
from repositories.validators import CRON_HELP


def status_badge(status: str):
    colour = Status(status).colour if status in Status.values else Status.PENDING.colour
    return format_html('<strong class="status-{}" style="color:{}">{}</strong>', status, colour, status)


def run_status_badge(run: PlanRun):
    """A cancelled run keeps the status failure (docs/running-plans.md#statuses); pages say cancelled."""
    return status_badge(run.shown_status)


def _object_or_404(model_or_queryset, pk):
    queryset = getattr(model_or_queryset, "objects", model_or_queryset)
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404(f"No {queryset.model._meta.verbose_name} with id {pk!r}.")
    return obj


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
class RepositoryAdmin(ObjectPageMixin, GuardedInputAdminMixin, SecretFieldsAdminMixin, admin.ModelAdmin):
    form = RepositoryForm
    list_display = [
        "name", "location_shown", "encryption", "initialised_shown", "source_connection", "passphrase_set",
        "last_backup",
    ]  # fmt: skip
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

    @admin.display(description="location", ordering="location")
    def location_shown(self, obj):
        return truncated(obj.location, "medium")

    @admin.display(boolean=True, description="passphrase")
    def passphrase_set(self, obj):
        return bool(obj.passphrase)

    @admin.display(boolean=True, description="initialised", ordering="initialised")
    def initialised_shown(self, obj):
        return obj.initialised

    @admin.display(description="last backup")
    def last_backup(self, obj):
        if not obj.last_status:
            return "—"
        return format_html("{} {}", status_badge(obj.last_status), when(obj.last_finished))

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
            "repository": Repository.objects.filter(pk=request.GET.get("repository", "")).first()
            if request.GET.get("repository", "").isdigit()
            else None,
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
            self._break_lock(request, repository)
        return None

    def _break_lock(self, request, repository) -> None:
        """borg break-lock, refused while a run holds the repository. It takes no lock and
        answers at once, so it runs in the request (docs/admin.md, "Repository")."""
        holder = _active_holder(repository)
        if holder:
            message = f"{repository.name}: not broken — run {holder.pk} of {holder.plan} is writing it"
            self.message_user(request, message, messages.ERROR)
            return
        try:  # nothing else borgui runs may be using the lock it breaks; the page never waits
            with leases.hold(repository, LeaseMode.WRITE, "break-lock (admin)", wait_seconds=0):
                result = borg.break_lock(repository)
        except leases.RepositoryBusy as e:
            self.message_user(request, f"{repository.name}: not broken — {e}", messages.ERROR)
            return
        if result.ok:
            self.message_user(request, f"{repository.name}: lock broken", messages.SUCCESS)
        else:
            self.message_user(request, f"{repository.name}: break-lock failed: {result.error_line()}", messages.ERROR)

    def has_break_lock_permission(self, request):
        return request.user.has_perm("repositories.break_lock")

    def has_check_permission(self, request):
        return request.user.has_perm("repositories.check_repository")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("operations/", view(self.operations_view), name="repositories_repository_operations"),
            path(
                "<path:object_id>/change-passphrase/", view(self.change_passphrase_view),
                name="repositories_repository_change_passphrase",
            ),
            path("<int:pk>/initialise/", view(self.initialise_view), name="repositories_repository_initialise"),
            path("<int:pk>/break-lock/", view(self.break_lock_view), name="repositories_repository_break_lock"),
            *super().get_urls(),
        ]  # fmt: skip

    def _queue_one(self, request, repository, operation: str):
        """Queue OPERATION on the worker; the page then follows it (and links back here)."""
        response = self._queue(request, [repository], operation)
        if response is None:
            return redirect("admin:repositories_repository_change", repository.pk)
        return redirect(response.url + f"&repository={repository.pk}")

    def initialise_view(self, request, pk):
        repository = _object_or_404(Repository, pk)
        if not self.has_change_permission(request, repository):
            raise PermissionDenied
        if request.method != "POST":
            return confirmation_page(
                request, self, repository, f"Initialise repository {repository.name}?",
                [f"borg init --encryption={repository.encryption} {repository.location}", "It runs on the worker."],
                button="Yes, initialise it",
            )  # fmt: skip
        return self._queue_one(request, repository, "init")

    def break_lock_view(self, request, pk):
        repository = _object_or_404(Repository, pk)
        if not self.has_break_lock_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            holder = _active_holder(repository)
            details = [
                "borg's lock keeps two processes from writing a repository at once. Break it only when no borg "
                "process uses it any more (a crashed backup left it behind).",
            ]
            if holder:
                details.append(f"Run {holder.pk} of plan {holder.plan} holds it now: breaking it will be refused.")
            return confirmation_page(
                request, self, repository, f"Break the borg lock of {repository.name}?", details,
                button="Yes, break the lock",
            )  # fmt: skip
        self._break_lock(request, repository)
        return redirect("admin:repositories_repository_change", repository.pk)

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


def repository_buttons(request, repository) -> list[ObjectButton]:
    model_admin = admin.site.get_model_admin(Repository)
    buttons = []
    if model_admin.has_change_permission(request, repository) and not repository.initialised:
        url = reverse("admin:repositories_repository_initialise", args=[repository.pk])
        buttons.append(ObjectButton("initialise", "Initialise", url, post=False, order=10))
    if model_admin.has_change_permission(request, repository) and repository.encryption != "none":
        url = reverse("admin:repositories_repository_change_passphrase", args=[repository.pk])
        buttons.append(ObjectButton("change-passphrase", "Change passphrase", url, post=False, order=50))
    if request.user.has_perm("repositories.break_lock"):
        url = reverse("admin:repositories_repository_break_lock", args=[repository.pk])
        buttons.append(ObjectButton("break-lock", "Break lock", url, post=False, order=60))
    return buttons


add_buttons("repositories.repository", repository_buttons)


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
class BackupPlanAdmin(ObjectPageMixin, GuardedInputAdminMixin, admin.ModelAdmin):
    view_on_site = False  # its page is this page
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
        queued = []
        for plan in queryset:
            try:
                queued.append(runs.queue_run(plan))
            except pipeline.PlanAlreadyRunning as e:
                self.message_user(request, str(e), messages.WARNING)
        if queued:
            rows = ((run.get_absolute_url(), run.pk, run.plan.name) for run in queued)
            links = format_html_join(", ", '<a href="{}">run {} of {}</a>', rows)
            self.message_user(request, format_html("{} plan run(s) queued: {}.", len(queued), links), messages.SUCCESS)

    def has_run_permission(self, request):
        return request.user.has_perm("repositories.run_plan")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/run/", view(self.run_view), name="repositories_backupplan_run"),
            path("<int:pk>/preview/", view(self.preview_view), name="repositories_backupplan_preview"),
            *super().get_urls(),
        ]

    def run_view(self, request, pk):
        """One click on Run now: one run, and its page (docs/running-plans.md)."""
        plan = _object_or_404(BackupPlan, pk)
        if not self.has_run_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            names = ", ".join(r.name for r in plan.ordered_repositories()) or "no repository"
            return confirmation_page(
                request, self, plan, f"Run plan {plan.name} now?", [f"A backup to {names}, on the worker."],
                button="Yes, run it now",
            )  # fmt: skip
        try:
            run = runs.queue_run(plan)
        except pipeline.PlanAlreadyRunning as e:
            self.message_user(request, str(e), messages.WARNING)
            return redirect("admin:repositories_backupplan_change", plan.pk)
        self.message_user(request, f"{plan.name}: run {run.pk} queued.", messages.SUCCESS)
        return redirect(run.get_absolute_url())

    def preview_view(self, request, pk):
        """What will run (docs/running-plans.md, "What will run"): nothing runs."""
        plan = _object_or_404(BackupPlan, pk)
        if not self.has_view_permission(request, plan):
            raise PermissionDenied
        built = preview.build_preview(plan)
        context = {
            **self.admin_site.each_context(request),
            "title": f"What will run: {plan.name}", "opts": self.model._meta, "original": plan,
            "subpage": "What will run", "preview": built, "steps": built.ordered(), "problems": built.problems,
            "plan_zone": preview.plan_zone(plan),
        }  # fmt: skip
        return TemplateResponse(request, "admin/repositories/backupplan/preview.html", context)


def plan_buttons(request, plan) -> list[ObjectButton]:
    buttons = []
    if request.user.has_perm("repositories.run_plan"):
        url = reverse("admin:repositories_backupplan_run", args=[plan.pk])
        buttons.append(ObjectButton("run-now", "Run now", url, order=10))
    url = reverse("admin:repositories_backupplan_preview", args=[plan.pk])
    buttons.append(ObjectButton("what-will-run", "What will run", url, post=False, order=20))
    return buttons


add_buttons("repositories.backupplan", plan_buttons)


class SourceMountInline(ReadOnlyInlineMixin, admin.TabularInline):
    """Where each source came from, for plans whose sources are on the source host."""

    model = SourceMount
    verbose_name_plural = "sources mounted from the source host"
    fields = ["job", "source", "host", "mount_point", "mounted_at", "unmounted_at", "error"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("job__repository", "job__run__plan")


class RunChangeList(ChangeList):
    """The runs list reads no log (up to 256 K each), and pages through the planrun_newest index."""

    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).defer("log")


@admin.register(PlanRun)
class PlanRunAdmin(ObjectPageMixin, GuardedInputAdminMixin, admin.ModelAdmin):
    # The list is ordered by the planrun_newest index and read from whichever end is nearer;
    # a filtered list is not counted twice.
    show_full_result_count = False
    paginator = TwoEndedPaginator
    # Fits 1280 px: when it was queued or started and what started it are on the run's page
    # (and filters); the plan and the reason are cut to one line.
    list_display = ["run_number", "plan_shown", "status_badge", "finished_shown", "duration_shown", "reason_shown"]
    list_display_links = ["run_number"]
    list_filter = ["status", "trigger", "plan"]
    list_select_related = ["plan"]
    # Jobs, hook runs and stopped containers are on the page's timeline (build_timeline).
    inlines = [SourceMountInline]
    readonly_fields = [
        "plan", "status_badge", "trigger", "reason", "scheduled_for_shown", "created_shown", "started_shown",
        "finished_shown", "duration_shown", "heartbeat_shown", "worker", "cancel_state",
    ]  # fmt: skip
    fields = readonly_fields
    actions = ["cancel"]
    change_form_template = "admin/repositories/planrun/change_form.html"
    view_on_site = False  # its page is this page

    def get_inline_instances(self, request, obj=None):
        # Sections with nothing to show are left out (a run of local sources mounts nothing).
        instances = super().get_inline_instances(request, obj)
        if obj is not None and not obj.source_mounts.exists():
            instances = [i for i in instances if not isinstance(i, SourceMountInline)]
        return instances

    @admin.display(description="scheduled for")
    def scheduled_for_shown(self, run):
        return when(run.scheduled_for)

    @admin.display(description="created")
    def created_shown(self, run):
        return when(run.created)

    @admin.display(description="started")
    def started_shown(self, run):
        return when(run.started)

    @admin.display(description="heartbeat")
    def heartbeat_shown(self, run):
        return when(run.heartbeat)

    @admin.display(description="cancel")
    def cancel_state(self, run):
        if not run.cancel_requested:
            return "—"
        return "cancelled" if run.finished else "cancel requested: the run stops at its next step"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_changelist(self, request, **kwargs):
        return RunChangeList

    @admin.display(description="status")
    def status_badge(self, run):
        return run_status_badge(run)

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
            path(
                "<int:pk>/progress.json",
                self.admin_site.admin_view(self.progress_view),
                name="repositories_planrun_progress",
            ),
            *super().get_urls(),
        ]

    def cancel_view(self, request, pk):
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        run = PlanRun.objects.select_related("plan").filter(pk=pk).first()
        if run is None or not Status(run.status).is_active:
            self.message_user(request, f"Run {pk} is not running.", messages.WARNING)
            return redirect("admin:repositories_planrun_change", pk)
        if request.method != "POST":
            return confirmation_page(
                request, self, run, f"Cancel run {run.pk} of plan {run.plan.name}?",
                ["borg is interrupted as Ctrl-C would; post-backup hooks still run, stopped containers start again."],
                button="Yes, cancel the run",
            )  # fmt: skip
        if runs.request_cancel(run):
            self.message_user(request, f"Run {pk}: cancel requested.", messages.SUCCESS)
        else:
            self.message_user(request, f"Run {pk} is not running.", messages.WARNING)
        return redirect("admin:repositories_planrun_change", pk)

    def progress_view(self, request, pk):
        """The run's jobs with their estimates (docs/dashboard.md#progress), polled by live.js."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        found = progress.runs_progress(PlanRun.objects.filter(pk=pk))
        if not found:
            raise Http404(f"No run with id {pk}.")
        return JsonResponse(progress.payload(found))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, unquote(object_id)) if object_id.isdigit() else None
        timeline = preview.build_timeline(run) if run is not None else None
        extra_context = {
            **(extra_context or {}),
            "run": run,
            "run_active": bool(run and Status(run.status).is_active),
            "progress_runs": progress.runs_progress(PlanRun.objects.filter(pk=run.pk)) if run else [],
            "progress_url": reverse("admin:repositories_planrun_progress", args=[run.pk]) if run else "",
            "timeline": timeline.ordered() if timeline else [],
            "plan_zone": preview.plan_zone(run.plan) if run else "",
            "time_zone": timezone.get_current_timezone_name(),
            **_log_tail(run.log if run else ""),
        }
        return super().change_view(request, object_id, form_url, extra_context)


LOG_TAIL_LINES = 40


def _log_tail(log: str) -> dict:
    lines = log.splitlines()
    return {
        "log_tail": "\n".join(lines[-LOG_TAIL_LINES:]),
        "log_tail_lines": min(len(lines), LOG_TAIL_LINES),
        "log_is_longer": len(lines) > LOG_TAIL_LINES,
    }


def run_buttons(request, run) -> list[ObjectButton]:
    if not Status(run.status).is_active or not request.user.has_perm("repositories.cancel_run"):
        return []
    url = reverse("admin:repositories_planrun_cancel", args=[run.pk])
    return [ObjectButton("cancel-run", "Cancel", url, post=False)]


add_buttons("repositories.planrun", run_buttons)
