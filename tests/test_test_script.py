"""`manage.py test_script` (docs/commands.md#test_script) and queued script tests through a real qcluster."""

import time

import pytest

from hooks.models import ScriptExecution, ScriptParameter
from hooks.services.testing import create_test, queue_test
from repositories.models import SSHConnection
from tests.factories import make_repository
from tests.hookkit import make_script

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("body", "exit_code", "outcome"),
    [
        ("#!/bin/sh\necho out; echo err >&2\nexit 0\n", 0, "exit 0"),
        ("#!/bin/sh\nexit 3\n", 3, "exit 3"),
        ("#!/bin/sh\nsleep 30\n", 124, "timed out"),
        ("#!/nonexistent/interpreter\necho hi\n", 125, "could not run"),
        ("#!/bin/sh\nkill -KILL $$\n", 137, "killed by signal 9"),
        ("#!/bin/sh\nkill -TERM $$\n", 143, "killed by signal 15"),
        ("#!/usr/bin/env python3\nimport sys; print('py'); sys.exit(5)\n", 5, "exit 5"),
        ("echo no shebang runs in bash: $BASH_VERSION | grep -q . && exit 7\n", 7, "exit 7"),
    ],
)
def test_exit_codes(manage, body, exit_code, outcome):
    make_script("probe", body, approved=False, timeout=1)
    result = manage("test_script", "probe")
    assert result.returncode == exit_code, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"probe: {outcome}")
    execution = ScriptExecution.objects.get()
    assert execution.hook_type == "test" and execution.requested_by == "test_script"


def test_output_parameters_and_simulated_post_backup(manage, tmp_path):
    script = make_script(
        "show",
        '#!/bin/sh\necho "$BORG_UI_HOOK_TYPE $BORG_UI_BACKUP_STATUS $CONTAINER_NAME $BORG_UI_REPOSITORY_NAME"\n'
        'env | grep -c "^BORG_UI_REMOTE_HOST=web.example$"\n',
        {"CONTAINER_NAME": "postgres"},
    )
    repository = make_repository(tmp_path / "repo", init=False)
    repository.source_connection = SSHConnection.objects.create(name="web", host="web.example", username="b")
    repository.save()
    result = manage(
        "test_script", "show", "--repository", "main", "--hook-type", "post-backup", "--status", "warning",
        "--param", "CONTAINER_NAME=db1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "post-backup warning db1 main\n1\n"
    assert ScriptExecution.objects.get().script == script


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "CommandError: no script named 'nope'"),
        (["show", "--repository", "nope"], "CommandError: no repository named 'nope'"),
        (["show", "--param", "PATH=/tmp"], "CommandError: PATH: not a parameter of script show"),
        (["show", "--param", "novalue"], "CommandError: --param 'novalue': use NAME=VALUE"),
        (["show", "--hook-type", "during"], "invalid choice: 'during' (choose from 'pre-backup', 'post-backup')"),
    ],
)
def test_usage_errors_are_125_could_not_run_never_a_script_exit_code(manage, args, message):
    make_script("show", "#!/bin/sh\ntrue\n")
    result = manage("test_script", *args)
    assert result.returncode == 125
    assert result.stderr.strip().splitlines()[-1].endswith(message)
    assert ScriptExecution.objects.count() == 0


def test_missing_required_parameter_is_125_naming_it(manage):
    script = make_script("needs", "#!/bin/sh\ntrue\n", approved=False)
    ScriptParameter.objects.create(script=script, name="CONTAINER_NAME", required=True)
    result = manage("test_script", "needs")
    assert result.returncode == 125
    assert "missing required parameter CONTAINER_NAME" in ScriptExecution.objects.get().error


def test_a_queued_test_runs_on_a_real_worker(qcluster):
    script = make_script("hello", "#!/bin/sh\necho hello from the worker\n", approved=False)
    execution = create_test(script, "admin")
    queue_test(execution)
    qcluster()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        execution.refresh_from_db()
        if execution.state == "done":
            break
        time.sleep(0.3)
    assert execution.state == "done", "the worker never ran the test"
    assert (execution.exit_code, execution.stdout) == (0, "hello from the worker\n")
    assert execution.duration is not None and execution.finished is not None
