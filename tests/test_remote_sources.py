"""Plans whose sources are on the source host: pull mode over SSHFS (docs/remote-sources.md).

The "source host" is an sshd in its own mount namespace, where /srv is an empty tmpfs: what
the tests write there exists only on that side, never on the worker's own filesystem.
"""

import html
import io
import re
import subprocess
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from archives.models import Archive, RestoreJob
from archives.services import index as archive_index
from repositories.models import (
    BackupPlan,
    ContainerStop,
    PlanRepository,
    PlanRun,
    RepositoryJob,
    SourceMount,
    SSHConnection,
)
from repositories.services import pipeline, remote_sources, runs
from repositories.services.containers import retry_failed_starts
from repositories.services.remote_sources import NO_CONNECTION, mount_root
from repositories.services.retention import plan_repository_problems
from system.report import SSHFS_MISSING, format_report, report_ok, system_report
from tests.adminkit import form_data
from tests.factories import SLOW_COMPRESSION, SLOW_TREE, make_plan, make_repository
from tests.harness.net import wait_for
from tests.hookkit import attach, make_script
from tests.remotekit import archive_items, connect, extract_text, sshfs_mounts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def web1(remote_sshd):
    remote_sshd.remote("rm -rf /srv/* && mkdir -p /srv/data/sub /srv/app && echo hello > /srv/data/a.txt")
    yield connect(remote_sshd)
    remote_sshd.remote("rm -rf /srv/*")


def remote_plan(tmp_path, connection, sources=("/srv/data",), **fields):
    repository = make_repository(tmp_path / "repo")
    return make_plan("pull", [repository], list(sources), source_connection=connection, sources_on="source", **fields)


def test_the_archive_holds_the_remote_files_with_the_paths_of_a_local_backup(tmp_path, web1, remote_sshd):
    remote_sshd.remote(
        "printf 'app config\\n' > /srv/app/config.yml && ln -s ../a.txt /srv/data/sub/link"
        " && ln -s /etc/hostname /srv/data/absolute && chown 4321:4322 /srv/data/a.txt"
    )
    assert not Path("/srv/data/a.txt").exists(), "the source paths exist only on the remote side"
    plan = remote_plan(tmp_path, web1, ["/srv/data/", "/srv/app"])
    run = runs.run_in_foreground(plan)
    job = run.jobs.get()
    assert (run.status, job.status) == ("success", "success"), run.log
    items = archive_items(job.repository, job.archive_name)
    assert set(items) == {
        "srv/data", "srv/data/a.txt", "srv/data/sub", "srv/data/sub/link", "srv/data/absolute", "srv/app",
        "srv/app/config.yml",
    }  # fmt: skip
    assert extract_text(job.repository, job.archive_name, "srv/app/config.yml") == "app config\n"
    # Symlinks as they are on the host; owners by number (--numeric-ids: no names at all).
    assert items["srv/data/sub/link"]["linktarget"] == "../a.txt"
    assert items["srv/data/absolute"]["linktarget"] == "/etc/hostname"
    assert (items["srv/data/a.txt"]["uid"], items["srv/data/a.txt"]["gid"]) == (4321, 4322)
    assert items["srv/data/sub"]["user"] == 0, "root's uid, not the worker's name for it"
    assert sshfs_mounts() == []
    mounts = list(SourceMount.objects.filter(run=run).order_by("id"))
    assert [(m.source, m.mount_point) for m in mounts] == [
        ("/srv/data/", str(mount_root(plan) / "srv/data")),
        ("/srv/app", str(mount_root(plan) / "srv/app")),
    ]
    assert all(m.mounted_at and m.unmounted_at and not m.error for m in mounts)
    assert mounts[0].host == f"web1 ({remote_sshd.user}@{remote_sshd.host}:{remote_sshd.port})"
    assert "mounted /srv/data/ from web1" in run.log and "unmounted /srv/app" in run.log


def test_an_unchanged_remote_file_is_not_read_again(tmp_path, web1, remote_sshd):
    """The mount point never changes for the plan, so borg's files cache (mtime and size on
    a FUSE mount) knows the file: a change that keeps both is not even read."""
    # borg keeps no cache entry for the newest file of a backup: a.txt is not the newest.
    remote_sshd.remote("touch -d 2020-01-01 /srv/data/a.txt && echo newer > /srv/data/b.txt")
    plan = remote_plan(tmp_path, web1)
    first = runs.run_in_foreground(plan).jobs.get()
    remote_sshd.remote("echo HELLO > /srv/data/a.txt && touch -d 2020-01-01 /srv/data/a.txt")
    second = runs.run_in_foreground(plan).jobs.get()
    assert second.status == "success", second.run.log
    assert extract_text(second.repository, second.archive_name, "srv/data/a.txt") == "hello\n"
    remote_sshd.remote("touch -d 2020-01-02 /srv/data/a.txt")
    third = runs.run_in_foreground(plan).jobs.get()
    assert extract_text(third.repository, third.archive_name, "srv/data/a.txt") == "HELLO\n"
    assert first.archive_name != second.archive_name


def test_a_missing_remote_path_fails_before_borg_with_the_reason_and_leaves_no_mount(tmp_path, web1):
    plan = remote_plan(tmp_path, web1, ["/srv/data", "/srv/nothing-here"])
    run = runs.run_in_foreground(plan)
    job = run.jobs.get()
    assert (run.status, job.status) == ("failure", "failure")
    assert job.reason == f"source /srv/nothing-here does not exist on {SourceMount.objects.last().host}"
    assert job.borg_exit_code is None and not job.archive_name, "borg never ran"
    assert sshfs_mounts() == []
    assert SourceMount.objects.filter(run=run, unmounted_at__isnull=True).count() == 0


def test_a_wrong_host_key_fails_clearly_and_leaves_no_mount(tmp_path, web1, remote_sshd):
    other = remote_sshd.root / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    key_type, key = other.with_suffix(".pub").read_text().split()[:2]
    web1.known_hosts = f"[{remote_sshd.host}]:{remote_sshd.port} {key_type} {key}"
    web1.save()
    run = runs.run_in_foreground(remote_plan(tmp_path, web1))
    job = run.jobs.get()
    assert job.status == "failure"
    assert "the host key of web1" in job.reason and "does not match" in job.reason, job.reason
    assert job.borg_exit_code is None
    assert sshfs_mounts() == []


def test_a_file_is_refused_as_a_remote_source(tmp_path, web1):
    job = runs.run_in_foreground(remote_plan(tmp_path, web1, ["/srv/data/a.txt"])).jobs.get()
    assert job.reason.startswith("source /srv/data/a.txt is not a directory on web1")
    assert sshfs_mounts() == []


@pytest.mark.parametrize(
    "sources, message",
    [
        (["srv/data"], "absolute paths"),
        (["/srv/../etc"], "without . or .."),
        (["/"], "/ cannot be a source"),
        (["/srv", "/srv/data"], "/srv/data lies inside /srv"),
    ],
)
def test_remote_sources_are_plain_absolute_paths_not_inside_each_other(tmp_path, web1, sources, message):
    plan = remote_plan(tmp_path, web1)
    plan.sources = sources
    with pytest.raises(ValidationError, match=message):
        plan.full_clean()


def test_remote_sources_need_the_plans_source_connection(tmp_path, web1):
    plan = remote_plan(tmp_path, web1)
    plan.source_connection = None
    assert plan_repository_problems(plan, plan.ordered_repositories()) == [NO_CONNECTION]
    plan.save()
    assert runs.run_in_foreground(plan).jobs.get().reason == NO_CONNECTION


def test_a_repository_source_connection_on_another_host_is_refused(tmp_path, web1, remote_sshd):
    plan = remote_plan(tmp_path, web1)
    repository = plan.ordered_repositories()[0]
    repository.source_connection = connect(remote_sshd, name="web1-again", username="backup")
    repository.save()
    assert plan_repository_problems(plan, [repository]) == [], "the same host and port with another user is fine"
    repository.source_connection = connect(remote_sshd, name="db2", host="db2.example")
    repository.save()
    [problem] = plan_repository_problems(plan, [repository])
    assert "db2 names another host than the plan's web1" in problem
    # Checked again when the run starts (the repository may have been changed since).
    job = runs.run_in_foreground(plan).jobs.get()
    assert job.status == "failure" and "names another host" in job.reason
    assert SourceMount.objects.count() == 0
    second = make_repository(tmp_path / "repo2", name="second")
    PlanRepository.objects.create(plan=plan, repository=second, order=1)
    plan.sources_on = "local"
    assert plan_repository_problems(plan, plan.ordered_repositories()) == []


def _apply(path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("apply_config", str(path), stdout=out, stderr=err)
    except SystemExit as e:
        return e.code, err.getvalue()
    return 0, out.getvalue()


CONFIG = """
ssh_connections:
  - {name: web1, host: 192.0.2.10, username: backup}
  - {name: db2, host: 192.0.2.20, username: backup}
repositories:
  - {name: main, path: %(repo)s, encryption: none, source_connection: %(connection)s}
plans:
  - {name: pull, repositories: [main], sources: [/srv/data], source_connection: web1, sources_on: source}
"""


def test_config_as_code_sets_and_exports_sources_on_and_refuses_another_host(tmp_path):
    config = tmp_path / "borgui.yaml"
    config.write_text(CONFIG % {"repo": tmp_path / "repo", "connection": "db2"})
    code, message = _apply(config)
    assert code != 0
    assert "plans[0].repositories: Repository main's source connection db2 names another host" in message
    config.write_text(CONFIG % {"repo": tmp_path / "repo", "connection": "web1"})
    assert _apply(config)[0] == 0, _apply(config)
    assert BackupPlan.objects.get(name="pull").sources_on == "source"
    out = io.StringIO()
    call_command("export_config", stdout=out)
    assert "sources_on: source" in out.getvalue()


def test_the_admin_sets_sources_on_and_the_run_page_names_the_host_of_each_source(admin, client, tmp_path, web1):
    plan = remote_plan(tmp_path, web1)
    client.force_login(admin)
    url = reverse("admin:repositories_backupplan_change", args=[plan.pk])
    data = form_data(client, url)
    assert data["sources_on"] == "source"
    data["source_connection"] = ""
    response = client.post(url, data)
    assert response.status_code == 200 and NO_CONNECTION in html.unescape(response.content.decode())
    data = form_data(client, url)
    data["sources_on"] = "local"
    assert client.post(url, data).status_code == 302
    plan.refresh_from_db()
    assert plan.sources_on == "local"
    plan.sources_on = "source"
    plan.save()
    run = runs.run_in_foreground(plan)
    page = html.unescape(client.get(reverse("admin:repositories_planrun_change", args=[run.pk])).content.decode())
    assert "Sources mounted from the source host" in page
    assert f"{web1.username}@{web1.host}:{web1.port}" in page and str(mount_root(plan) / "srv/data") in page


# --- cancel and a worker killed during borg create ------------------------------------------


def _borg_running(run) -> bool:
    job = RepositoryJob.objects.get(run=run)
    running = subprocess.run(["pgrep", "-f", f"borg .*{job.repository.location}"], capture_output=True).stdout
    return job.status == "running" and bool(running) and bool(sshfs_mounts())


@pytest.fixture
def slow_remote_plan(tmp_path, web1, remote_sshd):
    # 120 MB of random data at zstd,22: borg create takes seconds (tests/factories.py).
    count, size = SLOW_TREE["files"], SLOW_TREE["size"]
    remote_sshd.remote(
        f"mkdir -p /srv/big && i=0; while [ $i -lt {count} ]; do "
        f"head -c {size} /dev/urandom > /srv/big/f$i; i=$((i+1)); done"
    )
    return remote_plan(tmp_path, web1, ["/srv/big"], compression=SLOW_COMPRESSION)


def test_a_cancel_during_borg_create_unmounts(qcluster, slow_remote_plan):
    qcluster()
    run = runs.queue_run(slow_remote_plan)
    wait_for(lambda: _borg_running(run), 60, "borg create to read the mount")
    assert runs.request_cancel(run)
    wait_for(lambda: PlanRun.objects.get(pk=run.pk).status == "failure", 60, "the run to stop")
    assert PlanRun.objects.get(pk=run.pk).reason == "cancelled"
    assert sshfs_mounts() == []
    assert SourceMount.objects.get(run=run).unmounted_at is not None


def test_a_worker_killed_during_borg_create_leaves_a_mount_that_recovery_unmounts(qcluster, slow_remote_plan):
    first = qcluster()
    run = runs.queue_run(slow_remote_plan)
    wait_for(lambda: _borg_running(run), 60, "borg create to read the mount")
    first.kill_hard()
    [left] = sshfs_mounts()  # sshfs and its ssh run in a session of their own
    assert subprocess.run(["pgrep", "-f", f"sshfs .*{left}"], capture_output=True).stdout
    second = qcluster()
    wait_for(lambda: PlanRun.objects.get(pk=run.pk).status == "failure", 60, "the new worker to recover the run")
    wait_for(lambda: not sshfs_mounts(), 30, "recovery to unmount")
    mount = SourceMount.objects.get(run=run)
    assert mount.unmounted_at is not None, second.log()
    wait_for(lambda: not subprocess.run(["pgrep", "-f", f"sshfs .*{left}"]).returncode == 0, 10, "sshfs to exit")
    assert f"recovery: unmounted /srv/big ({mount.mount_point})" in PlanRun.objects.get(pk=run.pk).log
    # The plan runs again at the same mount point.
    assert runs.run_in_foreground(slow_remote_plan).status == "success"


# --- hooks and containers on the source host ------------------------------------------------

DUMP = """#!/bin/sh
# Runs on the source host: the dump lands in a source directory before it is mounted.
echo "dump of $(hostname) at {stamp}" > /srv/data/{name}
"""


def test_source_hooks_run_on_the_host_before_the_mount_is_read(tmp_path, web1):
    plan = remote_plan(tmp_path, web1)
    repository = plan.ordered_repositories()[0]
    attach(
        plan,
        make_script("plan-dump", DUMP.format(stamp="plan", name="plan.sql"), execution_target="source"),
        "pre-backup",
    )
    attach(
        repository,
        make_script("repo-dump", DUMP.format(stamp="repo", name="repo.sql"), execution_target="source"),
        "pre-backup",
    )
    run = runs.run_in_foreground(plan)
    job = run.jobs.get()
    assert job.status == "success", run.log
    items = archive_items(repository, job.archive_name)
    assert {"srv/data/plan.sql", "srv/data/repo.sql"} <= set(items)
    assert extract_text(repository, job.archive_name, "srv/data/repo.sql").endswith("at repo\n")
    assert not Path("/srv/data/plan.sql").exists(), "the hooks ran on the source host, not here"
    executions = {e.script.name: e for e in run.hook_executions.all()}
    mount = SourceMount.objects.get(run=run)
    assert executions["plan-dump"].finished <= executions["repo-dump"].started
    assert executions["repo-dump"].finished <= mount.recorded_at <= mount.mounted_at


@pytest.fixture
def source_docker(dockerd, settings):
    """The suite's dockerd seen as the source host's Docker (its socket, reached over SSH);
    this machine's DOCKER_HOST names no daemon at all (tests/conftest.py)."""
    settings.BORGUI_SOURCE_DOCKER_SOCKET = str(dockerd.socket)
    yield dockerd
    dockerd.remove_all_containers()


def test_the_container_stop_stops_and_starts_the_source_hosts_containers(tmp_path, web1, source_docker):
    source_docker.run_container("db")
    plan = remote_plan(tmp_path, web1, stop_containers=["db"])
    run = runs.run_in_foreground(plan)
    assert run.status == "success", run.log
    record = run.container_stops.get()
    assert record.stopped_at <= run.jobs.get().started and record.started_at
    assert source_docker.state("db") == "running"
    assert "container stop: stopped db" in run.log and "container start: started db again" in run.log


def test_a_container_a_run_could_not_start_is_started_on_the_source_host_later(tmp_path, web1, source_docker):
    source_docker.run_container("db")
    plan = remote_plan(tmp_path, web1)
    run = runs.run_in_foreground(plan)
    source_docker.docker("stop", "-t", "0", "db")
    container_id = source_docker.docker("inspect", "--format", "{{.Id}}", "db").stdout.decode().strip()
    ContainerStop.objects.create(
        run=run, selector="db", container_id=container_id, name="db", stopped_at=timezone.now(), start_attempts=1
    )
    assert retry_failed_starts() == 1
    assert source_docker.state("db") == "running"


def test_an_unreachable_source_docker_fails_the_run_clearly(tmp_path, web1, source_docker, settings):
    settings.BORGUI_SOURCE_DOCKER_SOCKET = "/nonexistent/docker.sock"
    run = runs.run_in_foreground(remote_plan(tmp_path, web1, stop_containers=["db"]))
    assert run.status == "failure"
    assert "container stop failed: Docker on web1" in run.log, run.log
    assert run.jobs.get().status == "skipped"


# --- restore to the source host ------------------------------------------------------------


def _restore(*args) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("restore", *args, stdout=out, stderr=err)
    except SystemExit as e:
        return e.code, out.getvalue() + err.getvalue()
    except CommandError as e:
        return e.returncode, str(e)
    return 0, out.getvalue()


@pytest.fixture
def backed_up(tmp_path, web1, remote_sshd):
    remote_sshd.remote("ln -s ../a.txt /srv/data/sub/link && printf 'x%.0s' $(seq 5000) > /srv/data/sub/big.txt")
    plan = remote_plan(tmp_path, web1)
    run = runs.run_in_foreground(plan)
    assert run.status == "success", run.log
    return run.jobs.get()


def test_restore_to_the_source_host_puts_the_files_there_and_not_here(backed_up, remote_sshd):
    code, output = _restore("main", "latest", "srv/data", "--target", "/srv/restored", "--target-connection", "web1")
    assert code == 0, output
    assert "streaming borg export-tar into tar on /srv/restored on web1" in output
    assert not Path("/srv/restored").exists(), "nothing was written on this machine"
    listing = remote_sshd.remote(
        "cd /srv/restored && find . | sort && cat srv/data/a.txt && readlink srv/data/sub/link"
    )
    assert listing.stdout.decode().split("\n") == [
        ".", "./srv", "./srv/data", "./srv/data/a.txt", "./srv/data/sub", "./srv/data/sub/big.txt",
        "./srv/data/sub/link", "hello", "../a.txt", "",
    ]  # fmt: skip
    job = RestoreJob.objects.get()
    assert (job.status, job.target, job.target_connection.name) == ("success", "/srv/restored", "web1")
    assert job.host.startswith("web1 (") and job.bytes_done >= job.bytes_total > 5000


def test_restore_to_the_source_host_checks_the_target_there(backed_up, remote_sshd):
    remote_sshd.remote("mkdir -p /srv/full && touch /srv/full/keep && ln -s /srv/full /srv/via-link")
    code, output = _restore("main", "latest", "--target", "/srv/via-link", "--target-connection", "web1")
    assert code == 2 and "refused: /srv/via-link on web1 is not empty" in output, output
    code, output = _restore("main", "latest", "--target", "/srv/full/keep", "--target-connection", "web1")
    assert code == 2 and "exists and is not a directory" in output
    code, output = _restore("main", "latest", "--target", "relative", "--target-connection", "web1")
    assert code == 2 and "absolute path" in output
    code, output = _restore("main", "latest", "--target", "/srv/x", "--target-connection", "nope")
    assert code == 2 and "no SSH connection named 'nope'" in output
    # A target name is one argument on the host, whatever it holds.
    odd = "/srv/odd $(touch /srv/pwned); name"
    code, output = _restore("main", "latest", "srv/data/a.txt", "--target", odd, "--target-connection", "web1")
    assert code == 0, output
    assert remote_sshd.remote("cat '/srv/odd $(touch /srv/pwned); name/srv/data/a.txt'").stdout == b"hello\n"
    assert remote_sshd.remote("test -e /srv/pwned", check=False).returncode == 1


def test_an_overwrite_on_the_host_skips_what_lies_under_a_symlink_there(backed_up, remote_sshd):
    remote_sshd.remote("mkdir -p /srv/t/srv/data /srv/elsewhere && ln -s /srv/elsewhere /srv/t/srv/data/sub")
    args = ("main", "latest", "--target", "/srv/t", "--target-connection", "web1", "--overwrite")
    code, output = _restore(*args)
    assert code == 1, output  # warning
    assert "skipped srv/data/sub: a symlink already in the target" in output
    assert remote_sshd.remote("ls -A /srv/elsewhere").stdout == b"", "nothing was written through the symlink"
    assert remote_sshd.remote("cat /srv/t/srv/data/a.txt").stdout == b"hello\n"


def test_the_admin_restore_form_offers_the_target_host(admin, client, backed_up):
    archive = Archive.objects.get(name=backed_up.archive_name)
    archive_index.ensure(archive)
    client.force_login(admin)
    url = reverse("admin:archives_archive_restore", args=[archive.pk])
    page = client.get(url).content.decode()
    assert "Target host" in page and "web1" in page
    connection = SSHConnection.objects.get(name="web1")
    data = {"target_connection": connection.pk, "target": "/srv/from-admin", "strip_components": "0"}
    response = client.post(url, data)
    assert response.status_code == 302, html.unescape(response.content.decode())
    job = RestoreJob.objects.get()
    assert (job.target_connection, job.target, job.status) == (connection, "/srv/from-admin", "pending")


# --- deployment ------------------------------------------------------------------------------


def test_the_image_installs_sshfs_and_compose_documents_fuse():
    root = Path(__file__).resolve().parent.parent
    dockerfile = (root / "Dockerfile").read_text()
    assert re.search(r"apt-get install [^\n]*\bsshfs fuse3\b", dockerfile)
    compose = (root / "compose.yaml").read_text()
    for line in ("# devices: [/dev/fuse]", "# cap_add: [SYS_ADMIN]", "# security_opt: [apparmor:unconfined]"):
        assert f"    {line}\n" in compose, line
    assert "sshfs fuse3" in (root / "scripts/install-test-deps.sh").read_text()


def test_check_system_reports_sshfs_and_fuse_only_for_enabled_remote_plans(tmp_path, web1, monkeypatch):
    plan = remote_plan(tmp_path, web1, stop_containers=["db"])
    lines = format_report(system_report())
    assert any(line.startswith("sshfs ") and " ok " in line and "(for plans pull)" in line for line in lines), lines
    assert any(line.startswith("/dev/fuse ") and " ok " in line for line in lines), lines
    # Its containers are on the source host: the worker's own Docker is not needed for them.
    assert not any("plan pull (stop_containers)" in line for line in lines), lines
    with monkeypatch.context() as without_sshfs:
        without_sshfs.setenv("PATH", str(tmp_path))
        report = system_report()
    [sshfs] = [check for check in report if check.name == "sshfs"]
    assert (sshfs.label, sshfs.detail) == ("FAILED", f"{SSHFS_MISSING} (for plans pull)")
    assert not report_ok(report)
    plan.enabled = False
    plan.save()
    assert not any(check.name in ("sshfs", "/dev/fuse") for check in system_report())


def test_sshfs_and_its_ssh_get_none_of_borguis_settings_or_secrets(tmp_path, web1, monkeypatch):
    monkeypatch.setenv("BORGUI_SOMETHING", "x")
    plan = remote_plan(tmp_path, web1)
    run = pipeline.create_run(plan, "cli")
    job = run.jobs.get()
    with remote_sources.borg_sources(plan, job, lambda line: None) as sources:
        [point] = sshfs_mounts()
        assert (sources.cwd, sources.paths) == (str(mount_root(plan)), ["srv/data"])
        [sshfs] = subprocess.run(["pgrep", "-f", f"sshfs .*{point}"], capture_output=True, text=True).stdout.split()
        # sshfs daemonised after starting ssh: ssh is known by its private key file, not its parent.
        ssh = subprocess.run(["pgrep", "-f", "^ssh .*borgui-sshfs-"], capture_output=True, text=True).stdout.split()
        environments = [Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") for pid in [sshfs, *ssh]]
    names = {entry.split(b"=", 1)[0].decode() for environment in environments for entry in environment if entry}
    assert len(environments) >= 2, "sshfs and its ssh"
    assert "PATH" in names and "HOME" in names
    assert not {name for name in names if name.startswith(("SECRET_KEY", "DATABASE_URL", "BORGUI_", "DJANGO_"))}
    assert sshfs_mounts() == []


def test_the_run_page_costs_the_same_queries_for_one_mount_or_many(admin, client, tmp_path, web1):
    plan = remote_plan(tmp_path, web1)
    run = pipeline.create_run(plan, "cli")
    job = run.jobs.get()
    url = reverse("admin:repositories_planrun_change", args=[run.pk])
    client.force_login(admin)

    def queries_with(mounts: int) -> int:
        SourceMount.objects.all().delete()
        for n in range(mounts):
            SourceMount.objects.create(run=run, job=job, source=f"/srv/s{n}", host="web1", mount_point=f"/m/{n}")
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    queries_with(1)  # caches filled (the session, content types)
    assert queries_with(1) == queries_with(6)
