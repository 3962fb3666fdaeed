"""The ready templates as a plan's hooks: the pre hook stops a container, the post hook
(run_on always) starts it again. A second pre hook writes the container's state into the
backed-up tree, so the archive itself shows the container was stopped while borg ran — for
a successful, a warning and a failing backup."""

import pytest

from hooks.docker_templates import START, STOP, sync_templates
from hooks.models import Script
from repositories import borg
from repositories.services import runs
from tests.factories import make_plan, make_repository, make_source_tree
from tests.hookkit import attach, docker_times, make_script

pytestmark = pytest.mark.django_db(transaction=True)

RECORD_STATE = """#!/usr/bin/env bash
set -euo pipefail
docker inspect --format '{{.State.Status}}' "${CONTAINER_NAME:-postgres}" > "${STATE_FILE:-/dev/null}"
"""


@pytest.mark.parametrize("outcome", ["success", "warning", "failure"])
def test_pre_hook_stops_and_post_hook_starts_the_container(docker_host, tmp_path, outcome):
    sync_templates()
    docker_host.run_container("db")
    source = make_source_tree(tmp_path / "src")
    state_file = source / "db-state.txt"
    repository = make_repository(tmp_path / "repo", init=outcome != "failure")
    sources = [source] + ([tmp_path / "no-such-path"] if outcome == "warning" else [])
    plan = make_plan("nightly", [repository], sources)
    container = {"CONTAINER_NAME": "db"}
    attach(plan, Script.objects.get(name=STOP.name), "pre-backup", 1, container)
    record = make_script("record-state", RECORD_STATE, {"CONTAINER_NAME": "postgres", "STATE_FILE": ""})
    attach(plan, record, "pre-backup", 2, {**container, "STATE_FILE": str(state_file)})
    attach(plan, Script.objects.get(name=START.name), "post-backup", 1, container, run_on="always")

    run = runs.run_in_foreground(plan)

    assert run.status == outcome
    job = run.jobs.get()
    assert state_file.read_text() == "exited\n", "stopped when the pre hooks were done"
    if outcome != "failure":
        inside = str(state_file).lstrip("/")
        extract = borg.run(repository, ["extract", "--stdout", f"{repository.location}::{job.archive_name}", inside])
        assert extract.stdout == "exited\n", "the archive holds the state seen while borg ran"
    started_at, finished_at = docker_times(docker_host, "db")
    assert finished_at <= job.started and started_at >= job.finished
    assert docker_host.state("db") == "running"
    post = run.hook_executions.get(hook_type="post-backup")
    assert (post.script_name, post.exit_code) == (START.name, 0)
    assert post.stdout == "started db\n"
