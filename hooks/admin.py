"""The admin of the script library, its review and tests, and the hook inlines that the
repositories admin shows (attachments on repositories and plans, hook runs on a run).

Permissions (docs/hooks.md#review-and-approval): ``hooks.approve_script`` approves scripts and inline repository
hooks; ``hooks.test_script`` runs script tests (no approval needed). Script executions are
records: nobody adds or changes them.
"""

import json

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, Count, When
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from common.admin import CappedInlineMixin, GuardedInputAdminMixin, ReadOnlyInlineMixin, truncated
from common.humanize import when
from hooks.docker_templates import sync_templates
from hooks.forms import (
    APPROVE_PERMISSION,
    NOT_APPROVED,
    TEST_PERMISSION,
    HookAttachmentForm,
    InlineHookFieldsMixin,
    ScriptForm,
    ScriptParameterForm,
    ScriptTestForm,
    approve_inline_hooks_on_save,
    masked_lines,
)
from hooks.models import (
    SCRIPT_TEST,
    ExecutionState,
    HookAttachment,
    Script,
    ScriptApproval,
    ScriptExecution,
    ScriptParameter,
)
from hooks.parameters import proposed_parameters
from hooks.services.testing import TestRequestError, create_test, queue_test
from repositories.admin import BackupPlanAdmin, RepositoryAdmin, RepositoryForm
from repositories.models import BackupPlan, Repository
from repositories.status import HookType

GREEN, RED, GREY = "#2e7d32", "#c62828", "#616161"
OUTPUT_STYLE = (
    "white-space: pre-wrap; word-break: break-all; max-height: 40em; overflow: auto; "
    "background: var(--darkened-bg, #f8f8f8); padding: 0.5em; margin: 0;"
)
NOT_APPROVED_HELP = NOT_APPROVED
RECENT_TESTS = 5


def _admin_link(obj, text=None):
    if obj is None:
        return "—"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else str(obj))


def _output(text: str, kind: str):
    return format_html('<pre class="script-output script-{}" style="{}">{}</pre>', kind, OUTPUT_STYLE, text or "")


def _outcome_colour(execution) -> str:
    """Green for a hook that succeeded, grey while it waits or runs, red otherwise."""
    return GREEN if execution.succeeded else (GREY if execution.state != ExecutionState.DONE else RED)


def _duration(seconds) -> str:
    return "—" if seconds is None else f"{seconds:.2f} s"


# --- scripts ----------------------------------------------------------------------------------


class _FollowsScriptPermissions:
    """A script's parameters and approval history are part of the script: who may see or
    edit the script sees or edits them (no separate permissions to hand out)."""

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("hooks.view_script") or request.user.has_perm("hooks.change_script")

    def _may_edit(self, request, obj):
        return request.user.has_perm("hooks.change_script" if obj is not None else "hooks.add_script")


class ScriptParameterInline(CappedInlineMixin, _FollowsScriptPermissions, admin.TabularInline):
    model = ScriptParameter
    form = ScriptParameterForm
    template = "admin/edit_inline/tabular_with_help.html"
    extra = 0
    fields = ["name", "default", "required", "secret", "description"]
    verbose_name_plural = "parameters (given to the script as environment variables)"

    def has_add_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    # Read-only (a viewer): the default of a secret parameter is not shown either.
    def get_fields(self, request, obj=None):
        return self.fields if self._may_edit(request, obj) else ["name", "default_shown", *self.fields[2:]]

    def get_readonly_fields(self, request, obj=None):
        return [] if self._may_edit(request, obj) else ["default_shown"]

    @admin.display(description="default")
    def default_shown(self, parameter):
        return "(set, hidden)" if parameter.secret and parameter.default else parameter.default


class ScriptApprovalInline(ReadOnlyInlineMixin, _FollowsScriptPermissions, admin.TabularInline):
    model = ScriptApproval
    fields = ["content_hash", "approved_by", "approved_at_shown"]
    readonly_fields = fields
    verbose_name_plural = "approval history (who approved which content)"

    @admin.display(description="approved at")
    def approved_at_shown(self, approval):
        return when(approval.approved_at)


@admin.register(Script)
class ScriptAdmin(GuardedInputAdminMixin, admin.ModelAdmin):
    form = ScriptForm
    inlines = [ScriptParameterInline, ScriptApprovalInline]
    list_display = [
        "name", "approval", "approved_by", "is_template", "execution_target", "timeout", "parameter_list", "used",
    ]  # fmt: skip
    list_filter = ["is_template", "execution_target"]
    search_fields = ["name", "description"]
    readonly_fields = ["review_state", "detected_parameters", "recent_tests", "usage"]
    actions = ["approve_selected", "revoke_selected"]
    change_form_template = "admin/hooks/script/change_form.html"
    change_list_template = "admin/hooks/script/change_list.html"
    view_on_site = False  # its page is this page

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(None, {"fields": ["name", "description", "body", "timeout", "execution_target"]})]
        if obj is not None:
            fieldsets += [
                ("Parameters found in the body", {"fields": ["detected_parameters"]}),
                ("Review", {"fields": ["review_state"]}),
                ("Tests", {"fields": ["recent_tests"]}),
                ("Usage", {"fields": ["usage"]}),
            ]
        return fieldsets

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related("parameters")
            .annotate(attachment_count=Count("attachments", distinct=True))
        )

    # --- permissions ---

    def has_approve_permission(self, request, obj=None):
        return request.user.has_perm(APPROVE_PERMISSION)

    def has_test_permission(self, request, obj=None):
        return request.user.has_perm(TEST_PERMISSION)

    # --- list columns and read-only fields ---

    @admin.display(boolean=True, description="approved")
    def approval(self, obj):
        return obj.is_approved

    @admin.display(description="parameters")
    def parameter_list(self, obj):
        return truncated(", ".join(p.name for p in obj.parameters.all()), "narrow")

    @admin.display(description="attachments", ordering="attachment_count")
    def used(self, obj):
        return obj.attachment_count

    @admin.display(description="review state")
    def review_state(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        if obj.is_approved:
            return format_html(
                '<strong class="review-approved" style="color:{}">approved</strong> by <span class="approved-by">{}'
                "</span> at {}<br>content hash <code>{}</code>",
                GREEN, obj.approved_by, when(obj.approved_at), obj.approved_hash,
            )  # fmt: skip
        return format_html(
            '<strong class="review-pending" style="color:{}">not approved</strong> — {}.'
            "<br>content hash <code>{}</code>",
            RED, NOT_APPROVED_HELP, obj.content_hash,
        )  # fmt: skip

    @admin.display(description="detected")
    def detected_parameters(self, obj):
        found = proposed_parameters(obj.body)
        if not found:
            return "No ${NAME} references in the body."
        declared = {parameter.name for parameter in obj.parameters.all()}
        rows = [
            (name, f" (default {default})" if default else "", "declared" if name in declared else "not declared")
            for name, default in found.items()
        ]
        return format_html(
            '<ul class="detected-parameters">{}</ul>',
            format_html_join("", "<li><code>{}</code>{} — {}</li>", rows),
        )

    @admin.display(description=f"last {RECENT_TESTS} tests")
    def recent_tests(self, obj):
        tests = obj.executions.filter(hook_type=SCRIPT_TEST).order_by("-created", "-id")[:RECENT_TESTS]
        rows = [
            (
                reverse("admin:hooks_scriptexecution_change", args=[test.pk]), when(test.created),
                test.test_hook_type or "—", test.requested_by or "—", _outcome_colour(test), test.outcome,
            )
            for test in tests
        ]  # fmt: skip
        if not rows:
            return "Not tested yet."
        return format_html(
            '<table class="recent-tests"><tr><th>when</th><th>as</th><th>by</th><th>result</th></tr>{}</table>',
            format_html_join(
                "", '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td style="color:{}">{}</td></tr>', rows
            ),
        )

    @admin.display(description="attached to")
    def usage(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        attachments = obj.attachments.select_related("repository", "plan").order_by("hook_type", "order", "id")
        if not attachments:
            return "Not attached to any repository or plan."
        rows = []
        for attachment in attachments:
            owner = attachment.repository or attachment.plan
            kind = "repository" if attachment.repository_id else "plan"
            state = "" if attachment.enabled else " (disabled)"
            rows.append((attachment.hook_type, kind, _admin_link(owner), attachment.order, state))
        return format_html(
            '<ul class="script-usage">{}</ul>',
            format_html_join("", "<li>{} hook of {} {} (order {}){}</li>", rows),
        )

    # --- saving: propose parameters, then the review rule ---

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        script = form.instance
        self._propose_parameters(request, script)
        self._review_after_save(request, script)

    def _propose_parameters(self, request, script):
        declared = set(script.parameters.values_list("name", flat=True))
        proposed = [
            ScriptParameter(script=script, name=name, default=default)
            for name, default in proposed_parameters(script.body).items()
            if name not in declared
        ]
        valid, refused = [], []
        for parameter in proposed:
            # Validated like a typed parameter (a default longer than the column is refused).
            try:
                parameter.full_clean(exclude=["script"], validate_unique=False, validate_constraints=False)
            except ValidationError as e:
                refused.append(f"{parameter.name} ({'; '.join(e.messages)})")
            else:
                valid.append(parameter)
        if refused:
            self.message_user(
                request, f"Parameters found in the body but not declared: {', '.join(refused)}.", messages.WARNING
            )
        if not valid:
            return
        ScriptParameter.objects.bulk_create(valid)
        listed = ", ".join(f"{p.name} (default {p.default})" if p.default else p.name for p in valid)
        self.message_user(
            request,
            f"Parameters found in the body and declared: {listed}. Mark secret or required ones below.",
            messages.INFO,
        )

    def _review_after_save(self, request, script):
        if script.is_approved:
            return
        if self.has_approve_permission(request):
            script.approve(request.user.get_username())
            self.message_user(
                request, f"Script {script.name} approved (content hash {script.approved_hash[:12]}…).", messages.SUCCESS
            )
        else:
            self.message_user(
                request,
                f"Script {script.name} is not approved: {NOT_APPROVED_HELP}. A reviewer must approve it.",
                messages.WARNING,
            )

    # --- actions ---

    @admin.action(description="Approve the current body of the selected scripts", permissions=["approve"])
    def approve_selected(self, request, queryset):
        approved = 0
        for script in queryset:
            if not script.is_approved:
                script.approve(request.user.get_username())
                approved += 1
        self.message_user(request, f"{approved} script(s) approved.", messages.SUCCESS)

    @admin.action(description="Revoke the approval of the selected scripts", permissions=["approve"])
    def revoke_selected(self, request, queryset):
        for script in queryset:
            script.revoke()
        self.message_user(request, f"{queryset.count()} script(s) no longer approved.", messages.SUCCESS)

    # --- pages: approve button, test form ---

    def get_urls(self):
        return [
            path(
                "<path:object_id>/approve/", self.admin_site.admin_view(self.approve_view), name="hooks_script_approve"
            ),
            path("<path:object_id>/test/", self.admin_site.admin_view(self.test_view), name="hooks_script_test"),
            path(
                "recreate-templates/",
                self.admin_site.admin_view(self.recreate_templates_view),
                name="hooks_script_recreate_templates",
            ),
            *super().get_urls(),
        ]

    def recreate_templates_view(self, request):
        """Restore the ready templates that were deleted or edited (a POST from the list page)."""

        if request.method != "POST":
            return redirect("admin:hooks_script_changelist")
        if not (self.has_add_permission(request) and self.has_approve_permission(request)):
            raise PermissionDenied
        results = sync_templates()
        changed = [f"{name}: {what}" for name, what in results if what != "unchanged"]
        self.message_user(
            request,
            f"{len(results) - len(changed)} template(s) unchanged" + (f"; {'; '.join(changed)}" if changed else "."),
            messages.SUCCESS,
        )
        return redirect("admin:hooks_script_changelist")

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_recreate_templates": self.has_add_permission(request) and self.has_approve_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_approve": self.has_approve_permission(request),
            "can_test": self.has_test_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _script(self, request, object_id) -> Script:
        script = self.get_object(request, unquote(object_id))
        if script is None:
            raise Http404(f"No script with id {object_id!r}.")
        return script

    def approve_view(self, request, object_id):
        """GET: a page that shows what is approved (the body, its hash) with the button that
        approves it; POST: approve."""
        if not self.has_approve_permission(request):
            raise PermissionDenied
        script = self._script(request, object_id)
        if request.method != "POST" and not script.is_approved:
            context = {
                **self.admin_site.each_context(request),
                "title": f"Approve {script.name}",
                "subtitle": None,
                "script": script,
                "opts": self.model._meta,
                "original": script,
                "subpage": "Approve",
                "has_view_permission": True,
            }
            return TemplateResponse(request, "admin/hooks/script/approve_confirm.html", context)
        if request.method == "POST":
            if script.is_approved:
                self.message_user(request, f"Script {script.name} is already approved.", messages.INFO)
            else:
                script.approve(request.user.get_username())
                self.message_user(
                    request,
                    f"Script {script.name} approved (content hash {script.approved_hash[:12]}…).",
                    messages.SUCCESS,
                )
        return HttpResponseRedirect(reverse("admin:hooks_script_change", args=[script.pk]))

    def test_view(self, request, object_id):
        if not self.has_test_permission(request):
            raise PermissionDenied
        script = self._script(request, object_id)
        form = ScriptTestForm(script, request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                execution = create_test(
                    script,
                    requested_by=request.user.get_username(),
                    repository=form.cleaned_data["repository"],
                    hook_type=form.cleaned_data["hook_type"],
                    backup_status=form.cleaned_data["backup_status"],
                    parameters=form.parameter_values(),
                )
            except TestRequestError as e:
                form.add_error(None, str(e))
            else:
                queue_test(execution)
                self.message_user(request, f"Test of {script.name} queued: a worker runs it, and this page shows it.")
                return HttpResponseRedirect(reverse("admin:hooks_scriptexecution_change", args=[execution.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Test {script.name}",
            "subtitle": None,
            "script": script,
            "form": form,
            "opts": self.model._meta,
            "original": script,
            "subpage": "Test",
            "has_view_permission": self.has_view_permission(request, script),
            "is_approved": script.is_approved,
        }
        return TemplateResponse(request, "admin/hooks/script/test_form.html", context)


# --- script executions: records of hook runs and tests ---------------------------------------


class _ExecutionColumns:
    @admin.display(description="outcome")
    def outcome_display(self, execution):
        return format_html(
            '<strong class="outcome" style="color:{}">{}</strong>',
            _outcome_colour(execution), execution.outcome.split(":")[0],
        )  # fmt: skip

    @admin.display(description="duration")
    def duration_display(self, execution):
        return _duration(execution.duration)

    @admin.display(description="started", ordering="started")
    def started_shown(self, execution):
        return when(execution.started)

    @admin.display(description="run")
    def run_link(self, execution):
        return _admin_link(execution.run) if execution.run_id else "—"

    @admin.display(description="repository job")
    def job_link(self, execution):
        if not execution.job_id:
            return "—"
        url = reverse("admin:repositories_planrun_change", args=[execution.job.run_id])
        return format_html('<a href="{}">job {} ({})</a>', url, execution.job_id, execution.job.repository.name)


@admin.register(ScriptExecution)
class ScriptExecutionAdmin(GuardedInputAdminMixin, _ExecutionColumns, admin.ModelAdmin):
    # The name says the script and the hook type ("dump-db (pre-backup) #12"): no columns repeat them.
    list_display = ["__str__", "outcome_display", "run_link", "job_link", "started_shown", "duration_display"]
    list_display_links = ["__str__"]
    list_filter = ["hook_type", "state", "timed_out", ("script", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["run__plan", "job__repository"]
    search_fields = ["script_name", "requested_by"]
    change_form_template = "admin/hooks/scriptexecution/change_form.html"
    view_on_site = False
    summary = [
        "script_link", "script_name", "hook_type", "state", "outcome", "exit_code", "cli_exit_code",
        "duration_display", "error",
    ]  # fmt: skip
    where = ["run_link", "job_link", "attachment_link", "requested_by", "created", "started", "finished"]
    test = ["test_repository", "test_hook_type", "test_backup_status", "test_parameters_display"]
    output = ["stdout_display", "stderr_display"]
    readonly_fields = [*summary, *where, *test, *output]

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(None, {"fields": self.summary}), ("Where and when", {"fields": self.where})]
        if obj is not None and obj.hook_type == "test":
            fieldsets.append(("Test request", {"fields": self.test}))
        return [*fieldsets, ("Output", {"fields": self.output})]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        match = getattr(request, "resolver_match", None)
        if match and match.url_name and match.url_name.endswith("_changelist"):
            queryset = queryset.defer("stdout", "stderr", "test_parameters")  # not shown in the list
        return queryset

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # Who may test a script may see the results (outputs are masked).
        return super().has_view_permission(request, obj) or request.user.has_perm(TEST_PERMISSION)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        execution = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "refresh": bool(execution and execution.state != ExecutionState.DONE),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="script")
    def script_link(self, execution):
        return _admin_link(execution.script) if execution.script_id else execution.script_name

    @admin.display(description="exit code (as test_script exits)")
    def cli_exit_code(self, execution):
        return execution.cli_exit_code if execution.state == ExecutionState.DONE else "—"

    @admin.display(description="attachment")
    def attachment_link(self, execution):
        return str(execution.attachment) if execution.attachment_id else "—"

    @admin.display(description="parameter values")
    def test_parameters_display(self, execution):
        try:
            values = json.loads(execution.test_parameters or "{}")
        except ValueError:
            values = {}
        if not values:
            return "— (defaults)"
        visible = set()
        if execution.script_id:
            visible = set(execution.script.parameters.filter(secret=False).values_list("name", flat=True))
        return format_html_join(
            ", ", "<code>{}={}</code>", ((name, value if name in visible else "***") for name, value in values.items())
        )

    @admin.display(description="stdout")
    def stdout_display(self, execution):
        return _output(execution.stdout, "stdout")

    @admin.display(description="stderr")
    def stderr_display(self, execution):
        return _output(execution.stderr, "stderr")


# --- attachments: inlines on the repository and plan pages -----------------------------------


class AttachmentFormSet(BaseInlineFormSet):
    """A post without this inline's management form (a client that did not show the inline)
    changes no attachment, instead of failing the whole page."""

    def __init__(self, data=None, *args, **kwargs):
        prefix = kwargs.get("prefix") or self.get_default_prefix()
        if data is not None and f"{prefix}-TOTAL_FORMS" not in data:
            data = data.copy()
            data[f"{prefix}-TOTAL_FORMS"] = data[f"{prefix}-INITIAL_FORMS"] = "0"
        super().__init__(data, *args, **kwargs)


class HookAttachmentInline(CappedInlineMixin, admin.TabularInline):
    model = HookAttachment
    form = HookAttachmentForm
    formset = AttachmentFormSet
    template = "admin/edit_inline/tabular_with_help.html"
    extra = 1
    fields = ["script", "hook_type", "order", "enabled", "timeout", "on_failure", "run_on", "parameter_values"]
    verbose_name = "library hook"
    verbose_name_plural = "library hooks (pre-backup and post-backup, each chain in order)"

    def get_queryset(self, request):
        # Pre-backup hooks first: the order they run in (docs/running-plans.md#order).
        pre_first = Case(When(hook_type=HookType.PRE_BACKUP, then=0), default=1)
        return super().get_queryset(request).select_related("script").order_by(pre_first, "order", "id")

    # Read-only (no change permission): the values as text, secret ones masked.
    def get_fields(self, request, obj=None):
        if self.has_change_permission(request, obj):
            return self.fields
        return [*self.fields[:-1], "parameter_values_shown"]

    def get_readonly_fields(self, request, obj=None):
        return [] if self.has_change_permission(request, obj) else ["parameter_values_shown"]

    @admin.display(description="parameter values")
    def parameter_values_shown(self, attachment):
        values = attachment.values()
        # Secret ones masked, and values of names no longer declared (they may have been secret).
        secret = dict(attachment.script.parameters.values_list("name", "secret"))
        hidden = {name for name in values if secret.get(name, True)}
        return format_html('<pre style="margin: 0">{}</pre>', masked_lines(values, hidden))


class RepositoryHookAttachmentInline(HookAttachmentInline):
    fk_name = "repository"


class PlanHookAttachmentInline(HookAttachmentInline):
    fk_name = "plan"


# --- hooks on the pages of repositories and plans ------------------------------------------
# The repositories app knows nothing of hooks: this app adds its attachments and the review
# of inline hooks to those pages, by registering a subclass of each admin (and its hook runs
# to a run's timeline through the step registry: services/engine.py).


class RepositoryWithHooksForm(InlineHookFieldsMixin, RepositoryForm):
    pass


class RepositoryWithHooksAdmin(RepositoryAdmin):
    form = RepositoryWithHooksForm
    inlines = [*RepositoryAdmin.inlines, RepositoryHookAttachmentInline]

    def save_model(self, request, obj, form, change):
        approve_inline_hooks_on_save(request, obj)  # a reviewer's save approves the inline hooks
        super().save_model(request, obj, form, change)


class BackupPlanWithHooksAdmin(BackupPlanAdmin):
    inlines = [*BackupPlanAdmin.inlines, PlanHookAttachmentInline]


for model, model_admin in (
    (Repository, RepositoryWithHooksAdmin),
    (BackupPlan, BackupPlanWithHooksAdmin),
):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
