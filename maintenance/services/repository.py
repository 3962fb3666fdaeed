"""check and compact of one repository (docs/maintenance.md), under its writer lease."""

import os

from maintenance.services.jobs import JobContext, MaintenanceRefused, Outcome
from repositories import borg
from repositories.status import Status, status_from_borg_exit

TAIL = 20


def check_args(location: str, verify_data: bool = False, max_duration: int | None = None) -> list[str]:
    """borg 1.2 allows --max-duration only with --repository-only, which cannot verify data."""
    if verify_data and max_duration:
        raise MaintenanceRefused("verify_data and max_duration cannot be combined (a partial check is repository-only)")
    args = ["check", "--progress"]
    if verify_data:
        args.append("--verify-data")
    if max_duration:
        args += ["--repository-only", f"--max-duration={int(max_duration)}"]
    return [*args, "--", location]


def compact_args(location: str) -> list[str]:
    return ["compact", "--progress", "--verbose", "--", location]


def disk_usage(repository) -> int | None:
    """Bytes a local repository takes on disk (None for a remote one: borg does not say)."""
    if repository.is_remote:
        return None
    total = 0
    for directory, _dirs, files in os.walk(repository.location):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_blocks * 512
            except OSError:
                pass
    return total


def _borg(ctx: JobContext, args: list[str]) -> borg.BorgResult:
    def on_event(event: dict) -> None:
        if event.get("type") == "progress_percent" and event.get("message"):
            ctx.set_progress(event["message"].strip())

    try:
        return borg.run(ctx.job.repository, args, on_event=on_event, on_start=ctx.borg_started)
    finally:
        ctx.on_cancel[:] = []


def _log_result(ctx: JobContext, what: str, result: borg.BorgResult) -> list[str]:
    lines = [line for line in result.log_lines if line.strip()]
    for line in lines[-TAIL:]:
        ctx.log(f"borg: {line}")
    ctx.log(f"borg {what} exit {result.exit_code}")
    return lines[-TAIL:]


def run_check(ctx: JobContext) -> Outcome:
    job = ctx.job
    options = job.options or {}
    args = check_args(job.repository.location, bool(options.get("verify_data")), options.get("max_duration"))
    with ctx.hold(job.repository):
        result = _borg(ctx, args)
    tail = _log_result(ctx, "check", result)
    ctx.results = {"exit_code": result.exit_code, "mode": _mode(options)}
    if ctx.cancelled.is_set():
        return Outcome(Status.FAILURE, "cancelled", tail)
    if result.exit_code == 0:
        return Outcome(Status.SUCCESS, "no problems found")
    if result.exit_code == 1:
        # For check, borg's "warning" exit means it found damage.
        return Outcome(Status.FAILURE, f"errors found: {_first_error(result)}", tail)
    return Outcome(Status.FAILURE, f"borg check failed: {result.error_line()}", tail)


def _first_error(result: borg.BorgResult) -> str:
    errors = [line.removeprefix("ERROR: ") for line in result.log_lines if line.startswith("ERROR: ")]
    return errors[0] if errors else result.error_line()


def _mode(options: dict) -> str:
    if options.get("verify_data"):
        return "verify-data"
    if options.get("max_duration"):
        return f"repository-only, max {options['max_duration']} s"
    return "full"


def run_compact(ctx: JobContext) -> Outcome:
    job = ctx.job
    with ctx.hold(job.repository):
        before = disk_usage(job.repository)
        result = _borg(ctx, compact_args(job.repository.location))
        after = disk_usage(job.repository)
    tail = _log_result(ctx, "compact", result)
    type(job).objects.filter(pk=job.pk).update(size_before=before, size_after=after)
    ctx.results = {"exit_code": result.exit_code}
    if before is not None and after is not None:
        ctx.log(f"size on disk: {before} bytes before, {after} after ({before - after} freed)")
    status = Status.FAILURE if ctx.cancelled.is_set() else status_from_borg_exit(result.exit_code)
    if status == Status.FAILURE:
        return Outcome(
            status, "cancelled" if ctx.cancelled.is_set() else f"borg compact failed: {result.error_line()}", tail
        )
    return Outcome(status, "" if status == Status.SUCCESS else result.error_line(), tail)
