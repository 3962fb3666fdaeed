"""A running hook's output is saved while it runs, so the run and execution pages show it
live (docs/hooks.md#script-executions); a real backup, a real hook, real borg."""

import html
import threading

import pytest
from django.db import connection
from django.urls import reverse

from hooks.models import ScriptExecution
from hooks.services.live_output import LIVE_OUTPUT_SECONDS
from repositories.services import runs
from tests.factories import make_plan, make_repository, make_source_tree
from tests.harness.net import wait_for
from tests.hookkit import attach, make_script

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "streamed-token-value-8s"


def _text(response) -> str:
    return html.unescape(response.content.decode())


def test_a_hook_that_prints_waits_and_prints_shows_its_first_lines_while_it_runs(tmp_path, admin_client):
    release = tmp_path / "release"
    script = make_script(
        "slow-dump",
        "#!/bin/sh\n"
        'echo "dumping table one (token $TOKEN)"\n'
        'echo "warming up" >&2\n'
        f'while [ ! -e "{release}" ]; do sleep 0.1; done\n'
        'echo "dumping table two"\n',
        {"TOKEN": ""},
    )
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [make_source_tree(tmp_path / "src")])
    attach(plan, script, "pre-backup", values={"TOKEN": TOKEN})
    script.parameters.filter(name="TOKEN").update(secret=True)

    finished = []

    def back_up():
        try:
            finished.append(runs.run_in_foreground(plan))
        finally:
            connection.close()

    runner = threading.Thread(target=back_up)
    runner.start()
    try:
        first = "dumping table one (token ***)\n"
        execution = wait_for(
            lambda: ScriptExecution.objects.filter(state="running", stdout=first).first(),
            10 + 2 * LIVE_OUTPUT_SECONDS,
            "the first line saved while the hook runs",
        )
        assert execution.stderr == "warming up\n"
        assert "dumping table two" not in execution.stdout

        page = _text(admin_client.get(reverse("admin:hooks_scriptexecution_change", args=[execution.pk])))
        assert first in page and "Running, its output so far below" in page and "dumping table two" not in page
        run_page = _text(admin_client.get(reverse("admin:repositories_planrun_change", args=[execution.run_id])))
        assert first in run_page
        assert TOKEN not in page + run_page
    finally:
        release.touch()
        runner.join(timeout=120)

    [run] = finished
    assert run.status == "success"
    execution.refresh_from_db()
    assert (execution.state, execution.exit_code) == ("done", 0)
    assert execution.stdout == first + "dumping table two\n"
    assert execution.stderr == "warming up\n"
