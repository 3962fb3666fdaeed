"""The script library, hook attachments and script executions (docs/hooks.md)."""

import json

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from common.fields import EncryptedTextField
from common.processes import GroupMark
from common.text import body_hash
from common.validators import validate_object_name
from hooks.parameters import validate_parameter_name
from hooks.services.runner import ScriptResult
from repositories.status import HookType, Status


class ExecutionTarget(models.TextChoices):
    LOCAL = "local", "local (where the worker runs)"
    SOURCE = "source", "source host (over SSH)"


class Script(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[validate_object_name])
    description = models.TextField(blank=True)
    body = models.TextField(help_text="Any language: the first line #!… picks the interpreter (/bin/bash without one).")
    timeout = models.PositiveIntegerField(default=300, validators=[MinValueValidator(1)], help_text="Seconds.")
    execution_target = models.CharField(max_length=10, choices=ExecutionTarget.choices, default=ExecutionTarget.LOCAL)
    is_template = models.BooleanField(default=False, help_text="Shipped with borgui (re-creatable).")
    approved_hash = models.CharField(max_length=64, blank=True, editable=False)
    approved_by = models.CharField(max_length=150, blank=True, editable=False)
    approved_at = models.DateTimeField(null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("approve_script", "Can approve scripts (and inline hooks) for backups"),
            ("test_script", "Can test scripts"),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # Any change to the body clears the approval: it was for other code.
        if self.approved_hash and self.approved_hash != self.content_hash:
            self.approved_hash, self.approved_by, self.approved_at = "", "", None
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "approved_hash", "approved_by", "approved_at"}
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("admin:hooks_script_change", args=[self.pk])

    def clean(self):
        if self.body and not self.body.strip():  # "" is refused as blank, by the field
            raise ValidationError({"body": "The body is empty."})

    @property
    def content_hash(self) -> str:
        return body_hash(self.body)

    @property
    def is_approved(self) -> bool:
        return bool(self.approved_hash) and self.approved_hash == self.content_hash

    def approve(self, by: str) -> None:
        """Approve the current body; recorded in the history."""
        self.approved_hash, self.approved_by, self.approved_at = self.content_hash, by, timezone.now()
        self.save(update_fields=["approved_hash", "approved_by", "approved_at"])
        ScriptApproval.objects.create(script=self, content_hash=self.approved_hash, approved_by=by)

    def revoke(self) -> None:
        self.approved_hash, self.approved_by, self.approved_at = "", "", None
        self.save(update_fields=["approved_hash", "approved_by", "approved_at"])


class ScriptApproval(models.Model):
    """Who approved which content, kept when the body changes again."""

    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="approvals")
    content_hash = models.CharField(max_length=64)
    approved_by = models.CharField(max_length=150)
    approved_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-approved_at", "-id"]

    def __str__(self):
        return f"{self.script} {self.content_hash[:12]} by {self.approved_by}"


SECRET_DEFAULT_REFUSED = (
    "A secret parameter takes no default here (defaults are stored in clear): "
    "give its value on each attachment, where it is encrypted."
)


class ScriptParameter(models.Model):
    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="parameters")
    name = models.CharField(max_length=100, validators=[validate_parameter_name])
    default = models.CharField(max_length=1000, blank=True)
    required = models.BooleanField(default=False)
    secret = models.BooleanField(default=False, help_text="Encrypted, never shown again, masked as *** in output.")
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["script", "name"], name="unique_script_parameter")]

    def __str__(self):
        return self.name

    def clean(self):
        if self.required and self.default:
            raise ValidationError({"default": "A required parameter has no default: the attachment must give it."})
        if self.secret and self.default:
            # Defaults are stored in clear; a secret belongs in the (encrypted) attachment values.
            raise ValidationError({"default": SECRET_DEFAULT_REFUSED})


class OnFailure(models.TextChoices):
    FAIL = "fail"
    CONTINUE = "continue"
    SKIP = "skip"  # pre-backup only


class RunOn(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    WARNING = "warning"
    ALWAYS = "always"

    def matches(self, status: str) -> bool:
        """docs/running-plans.md#run_on: a skipped status matches `warning` and `always` only."""
        if self == RunOn.ALWAYS:
            return True
        if status == Status.SKIPPED:
            return self == RunOn.WARNING
        return self.value == status


class HookAttachment(models.Model):
    script = models.ForeignKey(Script, on_delete=models.PROTECT, related_name="attachments")
    repository = models.ForeignKey(
        "repositories.Repository", null=True, blank=True, on_delete=models.CASCADE, related_name="hook_attachments"
    )
    plan = models.ForeignKey(
        "repositories.BackupPlan", null=True, blank=True, on_delete=models.CASCADE, related_name="hook_attachments"
    )
    hook_type = models.CharField(max_length=12, choices=HookType.choices)
    order = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    timeout = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Seconds; empty: the script's timeout."
    )
    on_failure = models.CharField(max_length=10, choices=OnFailure.choices, blank=True)
    run_on = models.CharField(max_length=10, choices=RunOn.choices, blank=True)
    # All values of this attachment, as JSON, encrypted together (secret ones among them).
    parameter_values = EncryptedTextField()

    class Meta:
        ordering = ["hook_type", "order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(repository__isnull=False) & Q(plan__isnull=True))
                | (Q(repository__isnull=True) & Q(plan__isnull=False)),
                name="attachment_has_one_owner",
            )
        ]

    def __str__(self):
        owner = self.repository or self.plan
        return f"{self.script} ({self.hook_type} of {owner})"

    @property
    def effective_on_failure(self) -> str:
        if self.on_failure:
            return self.on_failure
        return OnFailure.FAIL if self.hook_type == HookType.PRE_BACKUP else OnFailure.CONTINUE

    @property
    def effective_run_on(self) -> str:
        return self.run_on or RunOn.ALWAYS

    @property
    def effective_timeout(self) -> int:
        return self.timeout or self.script.timeout

    def values(self) -> dict[str, str]:
        try:
            values = json.loads(self.parameter_values or "{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}

    def set_values(self, values: dict[str, str]) -> None:
        self.parameter_values = json.dumps(values, sort_keys=True) if values else ""

    def undeclared_values_problem(self, script_name: str, declared: set[str]) -> str:
        """Values for names the script does not declare (also checked by apply_config before
        the script is saved)."""
        unknown = sorted(set(self.values()) - declared)
        if not unknown:
            return ""
        return (
            f"{', '.join(unknown)}: not a parameter of script {script_name} "
            f"(declared: {', '.join(sorted(declared)) or 'none'})."
        )

    def clean(self):
        errors = {}
        if self.hook_type == HookType.PRE_BACKUP and self.run_on:
            errors["run_on"] = "run_on applies to post-backup hooks only."
        if self.hook_type == HookType.POST_BACKUP and self.on_failure == OnFailure.SKIP:
            errors["on_failure"] = "A post-backup hook's on_failure is fail or continue."
        if self.script_id:
            declared = set(self.script.parameters.values_list("name", flat=True))
            problem = self.undeclared_values_problem(self.script.name, declared)
            if problem:
                errors["parameter_values"] = problem
        if errors:
            raise ValidationError(errors)


# A script run against a restored archive (docs/maintenance.md, "Restore drill").
RESTORE_DRILL = "restore-drill"
# A script run by hand to see what it does (docs/hooks.md#testing-a-script).
SCRIPT_TEST = "test"


class ExecutionState(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


class ScriptExecution(models.Model):
    """Every hook run of a backup and every script test (docs/hooks.md#script-executions)."""

    script = models.ForeignKey(Script, null=True, blank=True, on_delete=models.SET_NULL, related_name="executions")
    script_name = models.CharField(max_length=150, help_text="The script, or which inline hook, as it was run.")
    attachment = models.ForeignKey(HookAttachment, null=True, blank=True, on_delete=models.SET_NULL)
    run = models.ForeignKey(
        "repositories.PlanRun", null=True, blank=True, on_delete=models.CASCADE, related_name="hook_executions"
    )
    job = models.ForeignKey(
        "repositories.RepositoryJob", null=True, blank=True, on_delete=models.CASCADE, related_name="hook_executions"
    )
    hook_type = models.CharField(
        max_length=13, choices=[*HookType.choices, (SCRIPT_TEST, SCRIPT_TEST), (RESTORE_DRILL, RESTORE_DRILL)]
    )
    state = models.CharField(max_length=10, choices=ExecutionState.choices, default=ExecutionState.PENDING)
    # For tests: what was asked (the repository, the simulated hook type and status).
    test_repository = models.ForeignKey(
        "repositories.Repository", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    test_hook_type = models.CharField(max_length=12, blank=True)
    test_backup_status = models.CharField(max_length=10, blank=True)
    test_parameters = EncryptedTextField()
    requested_by = models.CharField(max_length=150, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    signal = models.IntegerField(null=True, blank=True)
    timed_out = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    duration = models.FloatField(null=True, blank=True)
    stdout = models.TextField(blank=True)
    stderr = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # The process group of the running script, so recovery can end what it left running
    # after its worker died (common.processes.GroupMark, docs/stopping.md).
    process_group = models.IntegerField(null=True, blank=True)
    process_started = models.BigIntegerField(null=True, blank=True)
    process_machine = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "script execution"

    def __str__(self):
        return f"{self.script_name} ({self.hook_type}) #{self.pk}"

    def get_absolute_url(self):
        return reverse("admin:hooks_scriptexecution_change", args=[self.pk])

    def group_mark(self) -> GroupMark | None:
        if self.process_group is None or self.process_started is None:
            return None
        return GroupMark(self.process_group, self.process_started, self.process_machine)

    @property
    def succeeded(self) -> bool:
        return self.state == ExecutionState.DONE and self.exit_code == 0 and not self.timed_out and not self.error

    @property
    def cli_exit_code(self) -> int:
        """As `test_script` exits: the script's code; 124 timeout, 125 not run, 128+N signal N."""
        result = ScriptResult(
            exit_code=self.exit_code, signal=self.signal, timed_out=self.timed_out, duration=0.0,
            stdout="", stderr="", error=self.error,
        )  # fmt: skip
        return result.cli_exit_code

    @property
    def outcome(self) -> str:
        if self.state != ExecutionState.DONE:
            return self.state
        if self.error:
            return f"could not run: {self.error}"
        if self.timed_out:
            return "timed out"
        if self.signal:
            return f"killed by signal {self.signal}"
        return f"exit {self.exit_code}"
