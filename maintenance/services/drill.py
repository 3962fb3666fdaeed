"""The restore drill (docs/maintenance.md): restore chosen paths of the plan's newest
archive (first repository) into a fresh scratch directory with the archives app's restore
service, run the plan's drill script there like a hook (same review, parameters, timeout
and masking) with BORG_UI_HOOK_TYPE=restore-drill, BORG_UI_RESTORE_PATH and
BORG_UI_ARCHIVE_NAME, record, and always remove the scratch directory."""

import os
import shutil
import stat
import tempfile
from pathlib import Path

from django.conf import settings

from archives.models import RestoreStatus
from archives.services import catalog, index, restore
from hooks.models import RESTORE_DRILL, ExecutionTarget
from hooks.services.engine import RunnableHook, execute_hook, repository_info
from hooks.services.environment import HookContext
from maintenance.models import MaintenanceJob
from maintenance.services.jobs import JobContext, Outcome
from maintenance.services.verify import newest_archive
from repositories.status import Status

TAIL = 20


def scratch_root() -> str | None:
    """Where scratch directories are made (BORGUI_DRILL_DIR; default: the system's temp dir)."""
    return settings.BORGUI_DRILL_DIR or None


def _remove(path: Path) -> None:
    """Remove the scratch directory whatever the restored modes (read-only directories)."""

    def writable_again(function, failed, _exc_info):
        parent = os.path.dirname(failed)
        for target in (parent, failed):
            try:
                os.chmod(target, os.lstat(target).st_mode | stat.S_IRWXU)
            except OSError:
                pass
        function(failed)

    if path.exists():
        shutil.rmtree(path, onerror=writable_again)


def drill_hook(settings_row) -> RunnableHook:
    """The plan's drill script with its stored parameter values (secret ones masked in output)."""
    return RunnableHook.for_script(settings_row.drill_script, settings_row.drill_values())


def run_drill(ctx: JobContext) -> Outcome:
    job = ctx.job
    plan = job.plan
    drill = getattr(plan, "maintenance", None)
    if drill is None or drill.drill_script_id is None:
        return Outcome(Status.FAILURE, f"plan {plan.name} has no drill script")
    repositories = plan.ordered_repositories()
    if not repositories:
        return Outcome(Status.FAILURE, f"plan {plan.name} has no repository")
    repository = repositories[0]
    MaintenanceJob.objects.filter(pk=job.pk).update(repository=repository)
    catalog.refresh(repository, holder=f"drill job {job.pk}", on_wait=ctx.log)
    archive = newest_archive(plan, repository)
    if archive is None:
        return Outcome(Status.FAILURE, f"no archive of plan {plan.name} in {repository.name}")
    ctx.results = {"repository": repository.name, "archive": archive.name, "paths": drill.drill_paths}
    scratch = Path(tempfile.mkdtemp(prefix=f"borgui-drill-{job.pk}-", dir=scratch_root()))
    try:
        restored = _restore(ctx, archive, drill.drill_paths, scratch)
        if restored is not None:
            return restored
        if ctx.cancelled.is_set():
            return Outcome(Status.FAILURE, "cancelled")
        return _run_script(ctx, drill, repository, archive.name, scratch)
    finally:
        _remove(scratch)
        ctx.log(f"scratch directory {scratch} removed")


def _restore(ctx: JobContext, archive, paths: list[str], scratch: Path) -> Outcome | None:
    """The restore into SCRATCH as a recorded restore job; an Outcome when it failed."""
    index.ensure(archive, holder=f"drill job {ctx.job.pk}")
    try:
        request = restore.request(
            archive, paths, None, target=str(scratch), admin_group=True, requested_from="drill"
        )  # a scratch directory borgui made itself, outside the restore roots
    except restore.RestoreRefused as e:
        return Outcome(Status.FAILURE, f"restore refused: {e}")
    ctx.results["restore_job"] = request.pk
    ctx.on_cancel[:] = [lambda: restore.request_cancel(request)]
    what = ", ".join(paths) or "the whole archive"
    ctx.log(f"restoring {what} of {archive} into {scratch} (restore job {request.pk})")
    status = restore.execute(request, echo=lambda line: ctx.log(f"restore: {line}"))
    ctx.on_cancel[:] = []
    if status != RestoreStatus.SUCCESS:
        request.refresh_from_db()
        return Outcome(Status.FAILURE, f"restore {status.value}: {request.reason}", request.log.splitlines()[-TAIL:])
    return None


def _run_script(ctx: JobContext, drill, repository, archive_name: str, scratch: Path) -> Outcome:
    hook = drill_hook(drill)
    if hook.target != ExecutionTarget.LOCAL:
        return Outcome(Status.FAILURE, f"drill script {hook.name} must run locally, where the files were restored")
    context = HookContext(
        hook_type=RESTORE_DRILL,
        repository=repository_info(repository),
        restore_path=str(scratch),
        archive_name=archive_name,
    )
    ctx.log(f"running drill script {hook.name} (timeout {hook.timeout} s)")
    secrets = [repository.passphrase] if repository.passphrase else []
    execution = execute_hook(hook, context, repository.source_connection, extra_secrets=secrets)
    MaintenanceJob.objects.filter(pk=ctx.job.pk).update(script_execution=execution)
    output = [line for line in f"{execution.stdout}\n{execution.stderr}".splitlines() if line.strip()]
    for line in output[-TAIL:]:
        ctx.log(f"{hook.name}: {line}")
    ctx.results.update(exit_code=execution.exit_code, script=hook.name, script_execution=execution.pk)
    if execution.succeeded:
        return Outcome(Status.SUCCESS, f"drill passed ({hook.name} exit 0)")
    return Outcome(Status.FAILURE, f"drill failed: {hook.name} {execution.outcome}", output[-TAIL:])
