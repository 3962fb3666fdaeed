"""What will run (docs/running-plans.md, "What will run"): the chain of a plan as a run
would make it now — leases, plan pre hooks, the containers that match now, per repository
its hooks, the `borg create` a run starts and prune, post hooks, plan post hooks — with each
hook's environment (secrets masked) and the problems that would stop it at the top."""

import html
import re
import shlex
import subprocess

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from hooks.models import ScriptParameter
from repositories import borg
from repositories.services import runs
from tests.factories import make_plan, make_repository, make_source_tree
from tests.hookkit import attach, make_script

pytestmark = pytest.mark.django_db

SECRET = "s3cret-token-value"
LABEL = "borgui.stop-during-backup=true"


def preview_page(client, plan) -> str:
    response = client.get(reverse("admin:repositories_backupplan_preview", args=[plan.pk]))
    assert response.status_code == 200
    return response.content.decode()


def steps_of(page: str) -> list[tuple[str, str]]:
    return [
        (phase, html.unescape(title.split(": ", 1)[1]))
        for phase, title in re.findall(r'class="preview-step[^"]*" data-phase="([^"]+)">\s*<h3>([^<]+)</h3>', page)
    ]


def problems_of(page: str) -> list[str]:
    return [html.unescape(p) for p in re.findall(r'<li class="preview-problem">([^<]+)</li>', page)]


def dump_script(name: str):
    script = make_script(name, '#!/bin/sh\necho "dumping $DB_NAME"\n', {"DB_NAME": "app"})
    ScriptParameter.objects.create(script=script, name="DB_TOKEN", secret=True)
    return script


@pytest.mark.django_db(transaction=True)
def test_the_preview_shows_the_chain_a_run_makes_with_the_containers_of_now(docker_host, admin, client, tmp_path):
    docker_host.run_container("db")
    docker_host.run_container("web", "--label", LABEL)
    docker_host.run_container("cache", "--label", LABEL)
    docker_host.docker("stop", "-t", "0", "cache")
    repository = make_repository(tmp_path / "repo", encryption="repokey")
    source = make_source_tree(tmp_path / "src", files=2)
    plan = make_plan(
        "nightly", [repository], [source], excludes=["*.tmp"], stop_containers=["db", f"label:{LABEL}"], keep_daily=7
    )
    attach(plan, dump_script("dump"), "pre-backup", values={"DB_TOKEN": SECRET}, on_failure="continue")
    attach(repository, make_script("check-disk", "#!/bin/sh\ndf\n"), "pre-backup")
    attach(repository, make_script("notify", "#!/bin/sh\ntrue\n"), "post-backup", run_on="failure")
    attach(plan, make_script("report", "#!/bin/sh\ntrue\n"), "post-backup")
    client.force_login(admin)

    page = preview_page(client, plan)

    assert 'id="plan-preview"' in page and 'id="preview-ok"' in page and problems_of(page) == []
    assert steps_of(page) == [
        ("leases", "Leases on the repositories"),
        ("plan pre-backup", "pre-backup hook dump"),
        ("plan pre-backup", "Stop containers (built-in)"),
        ("pre-backup", "pre-backup hook check-disk"),
        ("backup", "borg create to main"),
        ("prune", "borg prune of main (only nightly-* archives)"),
        ("post-backup", "post-backup hook notify"),
        ("plan post-backup", "post-backup hook report"),
        ("after the run", "Start the stopped containers again (always, in reverse order)"),
    ]
    text = html.unescape(page)
    assert re.search(r"<th>db</th><td>db \([0-9a-f]{12}\), running: will be stopped</td>", text)
    assert re.search(rf"<th>label:{LABEL}</th><td>web \([0-9a-f]{{12}}\), running: will be stopped</td>", text)
    assert re.search(rf"<th>label:{LABEL}</th><td>cache \([0-9a-f]{{12}}\), not running: left as it is</td>", text)
    assert "<th>on_failure</th><td>continue</td>" in text and "<th>run_on</th><td>failure</td>" in text
    # The environment: parameters with the secret masked, and the BORG_UI_* set.
    assert SECRET not in text and repository.passphrase not in text
    assert "DB_TOKEN=***" in text and "DB_NAME=app" in text and "BORG_UI_PLAN_NAME=nightly" in text
    assert "BORG_UI_REPOSITORY_NAME=main" in text and "BORG_UI_PLAN_RUN_ID=(the run's id)" in text

    # The borg create shown is the one a run starts: run as shown, it makes the archive.
    command = re.search(r'<pre class="step-command"[^>]*>(borg[^<]*create[^<]*)</pre>', text).group(1)
    argv = shlex.split(command)
    assert "--exclude=*.tmp" in argv and argv[-1] == str(source) and argv[-2].startswith(f"{repository.location}::")
    with borg.borg_environment(repository) as (env, _workdir):
        made = subprocess.run(argv, env=env, capture_output=True, timeout=120)
    assert made.returncode == 0, made.stderr.decode()[-2000:]
    assert argv[-2].split("::")[1] in borg.list_archives(repository).stdout


def test_what_would_stop_a_run_is_flagged_at_the_top(admin, client, tmp_path):
    repository = make_repository(tmp_path / "repo", init=False)
    plan = make_plan("nightly", [repository], [tmp_path])
    attach(plan, make_script("unreviewed", "#!/bin/sh\ntrue\n", approved=False), "pre-backup")
    needs = make_script("needs-host", "#!/bin/sh\ntrue\n")
    ScriptParameter.objects.create(script=needs, name="HOST", required=True)
    attach(repository, needs, "post-backup")
    client.force_login(admin)

    assert problems_of(preview_page(client, plan)) == [
        "script unreviewed is not approved",
        "repository main is not initialised: use Initialise (or Import existing) on its page",
        "script needs-host: missing required parameter HOST",
    ]


def test_an_unreachable_docker_is_one_line_not_a_500(admin, client, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [tmp_path], stop_containers=["db"])
    client.force_login(admin)
    page = html.unescape(preview_page(client, plan))
    assert "Docker is unreachable: the containers cannot be resolved now." in page
    assert problems_of(page) == [
        f"container stop: no Docker socket at {tmp_path}/no-docker.sock (mount the socket or set DOCKER_HOST)"
    ]


def test_a_socket_proxy_that_refuses_stop_is_a_problem(socket_proxy, admin, client, tmp_path, monkeypatch):
    proxy = socket_proxy({"CONTAINERS": 1})  # listing allowed, stop and start not
    monkeypatch.setenv("DOCKER_HOST", proxy.host)
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [tmp_path], stop_containers=["db"])
    client.force_login(admin)
    problems = problems_of(preview_page(client, plan))
    assert any(p.startswith("container stop: Docker stop: denied by the socket proxy (403): enable") for p in problems)


def test_a_hook_whose_docker_command_the_proxy_refuses_is_a_problem(socket_proxy, admin, client, tmp_path, monkeypatch):
    proxy = socket_proxy({"CONTAINERS": 1})  # listing allowed, stop not
    monkeypatch.setenv("DOCKER_HOST", proxy.host)
    repository = make_repository(tmp_path / "repo")
    plan = make_plan("nightly", [repository], [tmp_path])
    attach(plan, make_script("stop-db", "#!/bin/sh\ndocker ps\ndocker stop db\n"), "pre-backup")
    client.force_login(admin)
    page = preview_page(client, plan)
    assert ("leases", "Docker access of the hooks (as the System page checks it)") in steps_of(page)
    problems = problems_of(page)
    assert len(problems) == 1 and problems[0].startswith("script stop-db: Docker stop: denied by the socket proxy")
    proxy_all = socket_proxy({"CONTAINERS": 1, "POST": 1, "ALLOW_STOP": 1})
    monkeypatch.setenv("DOCKER_HOST", proxy_all.host)
    assert problems_of(preview_page(client, plan)) == []


def test_a_viewer_may_preview_and_nothing_runs(role_user, client, tmp_path):
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [tmp_path])
    client.force_login(role_user("viewer"))
    assert 'id="plan-preview"' in preview_page(client, plan)
    assert plan.runs.count() == 0


def _queries(client, plan) -> int:
    with CaptureQueriesContext(connection) as queries:
        preview_page(client, plan)
    return len(queries)


def test_the_preview_takes_a_few_queries_per_repository(admin, client, tmp_path):
    one = make_plan("one", [make_repository(tmp_path / "a", name="a")], [tmp_path])
    repositories = [make_repository(tmp_path / f"r{i}", name=f"r{i}") for i in range(4)]
    four = make_plan("four", repositories, [tmp_path])
    for repository in repositories:
        attach(repository, make_script(f"pre-{repository.name}", "#!/bin/sh\ntrue\n"), "pre-backup")
    client.force_login(admin)
    _queries(client, one)
    per_repository = (_queries(client, four) - _queries(client, one)) / 3
    assert per_repository <= 8, "a repository's hooks, lease and problems: a few queries each"


@pytest.mark.django_db(transaction=True)
def test_a_run_after_the_preview_makes_what_it_showed(admin, client, tmp_path):
    repository = make_repository(tmp_path / "repo")
    plan = make_plan("nightly", [repository], [make_source_tree(tmp_path / "src", files=1)])
    client.force_login(admin)
    page = html.unescape(preview_page(client, plan))
    shown = re.search(r"<th>archive name</th><td>(nightly-[^ ]+) \(time zone UTC\)</td>", page).group(1)
    run = runs.run_in_foreground(plan)
    made = run.jobs.get().archive_name
    assert made[:13] == shown[:13]  # the same template and time zone; the seconds moved on
