"""The hook chains of a backup (docs/running-plans.md#failure-semantics), table-driven, real borg and processes."""

import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from hooks.models import HookAttachment, ScriptExecution
from repositories import borg
from repositories.models import PlanRun, RepositoryLease
from repositories.services import runs
from tests.factories import make_plan, make_repository, make_source_tree
from tests.hookkit import attach, make_script, read_marks, recorder

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def log(tmp_path):
    return tmp_path / "hooks.log"


@pytest.fixture
def setup(tmp_path):
    source = make_source_tree(tmp_path / "src")
    repository = make_repository(tmp_path / "repo")
    plan = make_plan("nightly", [repository], [source])
    return plan, repository


def run_plan(plan) -> PlanRun:
    return runs.run_in_foreground(plan)


def archives(repository) -> int:
    return len(borg.list_archives(repository).json()["archives"])


def mark(log, name, exit_code=0):
    return {"MARK": name, "LOG": str(log), "EXIT_CODE": str(exit_code)}


@pytest.mark.parametrize(
    ("on_failure", "exit_code", "job_status", "archived", "next_pre_ran"),
    [
        ("fail", 1, "failure", False, False),
        ("continue", 1, "warning", True, True),
        ("skip", 1, "skipped", False, False),
        ("fail", 0, "success", True, True),
        ("continue", 0, "success", True, True),
        ("skip", 0, "success", True, True),
    ],
)
def test_pre_backup_on_failure(setup, log, on_failure, exit_code, job_status, archived, next_pre_ran):
    plan, repository = setup
    script = recorder()
    attach(repository, script, "pre-backup", 1, mark(log, "pre-1", exit_code), on_failure=on_failure)
    attach(repository, script, "pre-backup", 2, mark(log, "pre-2"))
    attach(repository, script, "post-backup", 1, mark(log, "post"), run_on="always")
    run = run_plan(plan)
    job = run.jobs.get()
    assert job.status == job_status
    assert archives(repository) == (1 if archived else 0)
    expected = [
        "pre-1 ",
        *(["pre-2 "] if next_pre_ran else []),
        f"post {'warning' if job_status == 'skipped' else job_status}",
    ]
    assert read_marks(log) == expected, "the post chain runs whenever the pre chain started"
    assert (
        run.status
        == {"failure": "failure", "warning": "warning", "skipped": "skipped", "success": "success"}[job_status]
    )


# How to bring a job to each status with real borg: a missing source path makes borg
# exit 1 (warning); a failing or skipping pre hook prevents the backup.
def _make_status(status, repository, plan, log, tmp_path):
    if status == "warning":
        plan.sources = [*plan.sources, str(tmp_path / "missing")]
        plan.save()
    elif status in ("failure", "skipped"):
        on_failure = "fail" if status == "failure" else "skip"
        attach(repository, recorder("breaker"), "pre-backup", 0, mark(log, "breaker", 3), on_failure=on_failure)


@pytest.mark.parametrize("status", ["success", "warning", "failure", "skipped"])
def test_post_backup_run_on_against_each_status(setup, log, tmp_path, status):
    plan, repository = setup
    _make_status(status, repository, plan, log, tmp_path)
    script = recorder()
    for order, run_on in enumerate(["success", "failure", "warning", "always"]):
        attach(repository, script, "post-backup", order, mark(log, run_on), run_on=run_on)
    run = run_plan(plan)
    assert run.jobs.get().status == status
    ran = [line.split()[0] for line in read_marks(log) if not line.startswith("breaker")]
    expected = {
        "success": ["success", "always"],
        "warning": ["warning", "always"],
        "failure": ["failure", "always"],
        "skipped": ["warning", "always"],  # skipped matches warning and always only
    }[status]
    assert ran == expected
    reported = {line.split()[1] for line in read_marks(log) if not line.startswith("breaker")}
    assert reported == {"warning" if status == "skipped" else status}, "BORG_UI_BACKUP_STATUS never says skipped"


def test_order_plan_pre_repo_pre_borg_repo_post_plan_post(setup, log):
    plan, repository = setup
    script = recorder()
    attach(plan, script, "post-backup", 0, mark(log, "plan-post"))
    attach(repository, script, "post-backup", 0, mark(log, "repo-post"))
    attach(repository, script, "pre-backup", 5, mark(log, "repo-pre-b"))
    attach(repository, script, "pre-backup", 1, mark(log, "repo-pre-a"))
    attach(plan, script, "pre-backup", 0, mark(log, "plan-pre"))
    run = run_plan(plan)
    assert [line.split()[0] for line in read_marks(log)] == [
        "plan-pre", "repo-pre-a", "repo-pre-b", "repo-post", "plan-post",
    ]  # fmt: skip
    executions = list(run.hook_executions.order_by("started", "id"))
    job = run.jobs.get()
    borg_started = job.started
    repo_pre = [e for e in executions if e.job_id == job.pk and e.hook_type == "pre-backup"]
    repo_post = [e for e in executions if e.job_id == job.pk and e.hook_type == "post-backup"]
    assert all(e.finished <= job.finished for e in repo_pre) and borg_started <= repo_pre[0].started
    assert all(e.started >= max(p.finished for p in repo_pre) for e in repo_post)
    assert len(executions) == 5 and all(e.succeeded for e in executions)


@pytest.mark.parametrize(("on_failure", "run_status"), [("fail", "failure"), ("skip", "skipped")])
def test_plan_pre_failure_or_skip_reaches_no_repository(tmp_path, log, on_failure, run_status):
    first = make_repository(tmp_path / "one", name="one")
    second = make_repository(tmp_path / "two", name="two")
    plan = make_plan("nightly", [first, second], [make_source_tree(tmp_path / "src")])
    script = recorder()
    attach(plan, script, "pre-backup", 0, mark(log, "plan-pre", 1), on_failure=on_failure)
    attach(plan, script, "pre-backup", 1, mark(log, "plan-pre-2"))
    for repository in (first, second):
        attach(repository, script, "pre-backup", 0, mark(log, f"{repository.name}-pre"))
        attach(repository, script, "post-backup", 0, mark(log, f"{repository.name}-post"))
    attach(plan, script, "post-backup", 0, mark(log, "plan-post"))
    run = run_plan(plan)
    assert run.status == run_status
    assert [line.split()[0] for line in read_marks(log)] == ["plan-pre", "plan-post"]
    for job in run.jobs.all():
        assert job.status == "skipped"
        assert job.reason.startswith("not reached: plan pre-backup hook")
    assert archives(first) == archives(second) == 0


def test_on_repository_failure_stop_runs_no_hooks_of_unreached_repositories(tmp_path, log):
    first = make_repository(tmp_path / "one", name="one")
    second = make_repository(tmp_path / "two", name="two")
    plan = make_plan("nightly", [first, second], [make_source_tree(tmp_path / "src")], on_repository_failure="stop")
    script = recorder()
    attach(first, script, "pre-backup", 0, mark(log, "one-pre", 1), on_failure="fail")
    attach(first, script, "post-backup", 0, mark(log, "one-post"))
    attach(second, script, "pre-backup", 0, mark(log, "two-pre"))
    attach(second, script, "post-backup", 0, mark(log, "two-post"))
    attach(plan, script, "post-backup", 0, mark(log, "plan-post"), run_on="failure")
    run = run_plan(plan)
    assert [line.split()[0] for line in read_marks(log)] == ["one-pre", "one-post", "plan-post"]
    jobs = {job.repository.name: job for job in run.jobs.all()}
    assert (jobs["one"].status, jobs["two"].status) == ("failure", "skipped")
    assert run.status == "failure"


@pytest.mark.parametrize(("on_failure", "job_status"), [("fail", "failure"), ("continue", "warning")])
def test_every_post_hook_runs_after_a_failing_one(setup, log, on_failure, job_status):
    plan, repository = setup
    script = recorder()
    attach(repository, script, "post-backup", 0, mark(log, "first", 1), on_failure=on_failure)
    attach(repository, script, "post-backup", 1, mark(log, "second"))
    attach(repository, script, "post-backup", 2, mark(log, "third", 1), on_failure="continue")
    run = run_plan(plan)
    assert [line.split() for line in read_marks(log)] == [
        ["first", "success"],
        ["second", "success"],
        ["third", "success"],
    ]
    assert run.jobs.get().status == job_status
    assert archives(repository) == 1


def test_plan_post_chain_failure_changes_the_run_status(setup, log):
    plan, _repository = setup
    attach(plan, recorder(), "post-backup", 0, mark(log, "cleanup", 2), on_failure="fail")
    assert run_plan(plan).status == "failure"


def test_disabled_attachments_do_not_run(setup, log):
    plan, repository = setup
    attach(repository, recorder(), "pre-backup", 0, mark(log, "off", 1), enabled=False)
    assert run_plan(plan).status == "success"
    assert read_marks(log) == []


@pytest.mark.parametrize("inline", [False, True])
def test_unapproved_code_is_refused(setup, log, inline):
    plan, repository = setup
    if inline:
        repository.pre_backup_script = f"#!/bin/sh\necho ran >> {log}\n"
        repository.save()
        expected_error = f"script pre_backup_script of {repository.name} is not approved"
    else:
        script = make_script("unreviewed", f"#!/bin/sh\necho ran >> {log}\n", approved=False)
        attach(repository, script, "pre-backup")
        expected_error = "script unreviewed is not approved"
    run = run_plan(plan)
    assert run.jobs.get().status == "failure"
    assert read_marks(log) == [], "unapproved code never runs"
    execution = run.hook_executions.get()
    assert execution.error == expected_error
    assert expected_error in run.log


def test_editing_an_approved_script_clears_the_approval(setup, log):
    plan, repository = setup
    script = recorder()
    attach(repository, script, "pre-backup", 0, mark(log, "pre"))
    script.body += "# changed\n"
    script.save()
    script.refresh_from_db()
    assert not script.is_approved and script.approved_hash == ""
    assert run_plan(plan).jobs.get().status == "failure"
    assert script.approvals.count() == 1, "the history keeps the earlier approval"


def test_inline_hooks_run_only_without_library_hooks_of_that_type(setup, log):
    plan, repository = setup
    repository.pre_backup_script = f"#!/bin/sh\necho inline-pre >> {log}\n"
    repository.post_backup_script = f'#!/bin/sh\necho "inline-post $BORG_UI_BACKUP_STATUS" >> {log}\n'
    repository.approve_inline_hooks()
    repository.save()
    attach(repository, recorder(), "pre-backup", 0, mark(log, "library-pre"))
    run_plan(plan)
    assert read_marks(log) == ["library-pre ", "inline-post success"]


def test_missing_required_parameter_fails_the_hook_naming_it(setup, log):
    from hooks.models import ScriptParameter

    plan, repository = setup
    script = make_script("needs", "#!/bin/sh\nexit 0\n", approved=False)
    ScriptParameter.objects.create(script=script, name="CONTAINER_NAME", required=True)
    script.approve("tests")
    attach(repository, script, "pre-backup")
    run = run_plan(plan)
    assert run.hook_executions.get().error == "script needs: missing required parameter CONTAINER_NAME"
    assert run.jobs.get().status == "failure"


def test_parameter_default_is_used_when_the_attachment_gives_none(setup, log):
    plan, repository = setup
    script = make_script("dflt", f'#!/bin/sh\necho "$CONTAINER_NAME" >> {log}\n', {"CONTAINER_NAME": "postgres"})
    attach(repository, script, "pre-backup", 0)
    attach(repository, script, "pre-backup", 1, {"CONTAINER_NAME": "mariadb"})
    run_plan(plan)
    assert read_marks(log) == ["postgres", "mariadb"]


def test_a_hook_that_times_out_fails_and_says_so(setup, log):
    plan, repository = setup
    script = make_script("sleepy", "#!/bin/sh\nsleep 30\n", timeout=1)
    attach(repository, script, "pre-backup")
    run = run_plan(plan)
    execution = run.hook_executions.get()
    assert execution.timed_out and execution.outcome == "timed out"
    assert execution.duration < 15
    assert run.jobs.get().status == "failure"


def test_a_plan_pre_hook_failing_with_continue_makes_successful_jobs_warnings(setup, log):
    plan, repository = setup
    script = recorder()
    attach(plan, script, "pre-backup", 0, mark(log, "plan-pre", 1), on_failure="continue")
    attach(repository, script, "post-backup", 0, mark(log, "repo-post"))
    attach(plan, script, "post-backup", 0, mark(log, "plan-post"))
    run = run_plan(plan)
    assert read_marks(log) == ["plan-pre ", "repo-post warning", "plan-post warning"]
    assert (run.jobs.get().status, run.status) == ("warning", "warning")
    assert archives(repository) == 1


def test_a_cancel_during_a_plan_pre_hook_is_a_failure_for_the_plan_post_chain(setup, log, tmp_path):
    plan, repository = setup
    started = tmp_path / "pre-started"
    slow_pre = make_script("slow-pre", f'#!/bin/sh\ntouch "{started}"\nsleep 2\n')
    attach(plan, slow_pre, "pre-backup", 0)
    script = recorder()
    attach(repository, script, "post-backup", 0, mark(log, "repo-post"))
    attach(plan, script, "post-backup", 0, mark(log, "plan-post-failure"), run_on="failure")
    attach(plan, script, "post-backup", 1, mark(log, "plan-post-always"), run_on="always")

    def cancel_once_the_hook_runs():
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        runs.request_cancel(PlanRun.objects.get(plan=plan))
        connection.close()

    canceller = threading.Thread(target=cancel_once_the_hook_runs)
    canceller.start()
    run = run_plan(plan)
    canceller.join()
    assert (run.status, run.reason) == ("failure", "cancelled")
    job = run.jobs.get()
    assert (job.status, job.reason) == ("skipped", "not reached: cancelled")
    assert read_marks(log) == ["plan-post-failure failure", "plan-post-always failure"]
    assert archives(repository) == 0


def test_a_run_that_never_gets_its_repository_still_runs_the_plan_post_chain(setup, log, settings):
    plan, repository = setup
    settings.BORGUI_LEASE_WAIT_SECONDS = 1
    other = make_plan("other", [repository], [str(log.parent)])
    writer = PlanRun.objects.create(plan=other, status="running", trigger="cli", started=timezone.now())
    RepositoryLease.objects.create(repository=repository, run=writer, taken=timezone.now())
    script = recorder()
    attach(repository, script, "pre-backup", 0, mark(log, "repo-pre"))
    attach(plan, script, "post-backup", 0, mark(log, "plan-post"), run_on="failure")
    run = run_plan(plan)
    assert (run.status, run.reason) == (
        "failure",
        "timed out waiting for repository main (another backup is writing it)",
    )
    assert read_marks(log) == ["plan-post failure"], "no pre chain started, so only the plan post chain runs"


def test_a_hook_that_cannot_start_is_recorded_as_failed_and_the_run_goes_on(setup, log):
    plan, _repository = setup
    broken = HookAttachment(script=recorder("broken"), hook_type="pre-backup", order=0, plan=plan, on_failure="fail")
    broken.set_values({"MARK": "nul \x00 in a value", "LOG": str(log)})
    broken.save()  # (not full_clean: the admin would refuse the value; a row in the database may still have it)
    attach(plan, recorder(), "post-backup", 0, mark(log, "plan-post"))
    run = run_plan(plan)
    assert run.status == "failure"
    execution = ScriptExecution.objects.get(attachment=broken)
    assert execution.state == "done" and not execution.succeeded
    assert execution.error.startswith("script broken could not run: ")
    assert read_marks(log) == ["plan-post failure"]
