"""Secrets in plain text nowhere (docs/security.md#secret-scans): after real runs with a
secret parameter, a repository passphrase, an SSH key, a channel URL and a ping URL, each
is looked for in every place borgui writes or shows something."""

import json

import pytest
from django.apps import apps
from django.conf import settings
from django.test.utils import override_settings
from django.urls import NoReverseMatch, reverse
from django_q.models import Task

from common.fields import EncryptedTextField
from hooks.models import ScriptExecution
from repositories.models import BackupPlan, PlanRun
from repositories.services import runs
from tests import secretkit
from tests.adminkit import admin_url_names, registered_admins
from tests.factories import make_plan
from tests.harness.net import wait_for
from tests.harness.postgres import dump_test_database
from tests.notifykit import FAST_RETRIES
from tests.packagekit import make_fake_tools
from tests.prockit import ProcSpy
from tests.remotekit import connect

pytestmark = pytest.mark.django_db(transaction=True)

OUR_APPS = ("repositories", "hooks", "notifications", "maintenance", "archives", "packages_admin", "accounts")
# The one variable each kind of child needs its secret in (docs/security.md).
CARRIERS = {"borg": {"BORG_PASSPHRASE"}, "hook": {"API_TOKEN"}}
METRICS_TOKEN = "scan-metrics-token"


class Scan:
    def __init__(self, secrets: dict[str, str]):
        self.secrets = secrets
        self.places: dict[str, int] = {}  # kind of place -> how many were scanned
        self.leaks: list[str] = []

    def look(self, kind: str, where: str, text: str | bytes) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        self.places[kind] = self.places.get(kind, 0) + 1
        self.leaks += [f"{kind}: {where}: the {name}" for name, secret in self.secrets.items() if secret in text]


@pytest.fixture
def world(tmp_path, remote_sshd, receiver):
    remote_sshd.remote("rm -rf /srv/scan && mkdir -p /srv/scan && echo hi > /srv/scan/a")
    connection = connect(remote_sshd, name="scanhost")
    world = secretkit.build(
        tmp_path,
        connection=connection,
        notify_url=receiver.url(f"/notify/{secretkit.CHANNEL_TOKEN}", scheme="json"),
        ping_url=receiver.url(f"/ping/{secretkit.PING_TOKEN}"),
    )
    make_plan(
        "pulled", world.plan.ordered_repositories(), ["/srv/scan"], source_connection=connection, sources_on="source"
    )
    yield world
    remote_sshd.remote("rm -rf /srv/scan")


def _run_everything(world, qcluster, manage, receiver, tmp_path, remote_sshd):
    """Backups on a real worker (local and over SSHFS, with the hook), a script test, an
    archive stream and an apt-get run, under a /proc spy; returns the spy, the worker and
    the command outputs."""
    outputs = []
    markers = [str(tmp_path), str(settings.DATA_DIR), str(remote_sshd.port)]
    with ProcSpy(markers) as spy:
        cluster = qcluster(**FAST_RETRIES)
        queued = [runs.queue_run(plan) for plan in BackupPlan.objects.order_by("name")]
        wait_for(lambda: not PlanRun.objects.filter(finished=None).exists(), 120, "both runs to finish")
        assert sorted(PlanRun.objects.values_list("status", flat=True)) == ["success", "success"], [
            run.log for run in PlanRun.objects.all()
        ]
        assert len(queued) == 2
        outputs.append(manage("test_script", "uses-a-token", "--param", f"API_TOKEN={secretkit.SECRET_PARAMETER}"))
        outputs.append(manage("download_archive", "vault", "latest", "--output", str(tmp_path / "out.tar.gz")))
        fake_apt = make_fake_tools(tmp_path / "fakebin", tmp_path / "apt-calls", body="sleep 1")
        outputs.append(manage("install_packages", "hello", env={"PATH": fake_apt}))
        outputs.append(manage("export_config"))
        receiver.wait_for(4, timeout=60)  # two notifications; /start and success pings of the one plan
        cluster.stop()
    return spy, cluster, outputs


def _stored_rows(scan: Scan) -> None:
    """Every row of borgui's own tables, every field but the encrypted ones (which hold the
    secrets on purpose, encrypted: the dump shows them as stored)."""
    for app_label in OUR_APPS:
        for model in apps.get_app_config(app_label).get_models():
            if not model._meta.managed:  # a permission holder without a table
                continue
            names = [f.attname for f in model._meta.concrete_fields if not isinstance(f, EncryptedTextField)]
            for row in model._default_manager.values(*names):
                scan.look("stored rows", f"{model._meta.label} {row.get('id')}", json.dumps(row, default=str))
    for task in Task.objects.all():  # django-q2 keeps arguments and results pickled
        scan.look("stored rows", f"django_q task {task.name}", repr((task.args, task.kwargs, task.result)))


def _admin_pages(scan: Scan, client, user, role: str) -> None:
    client.force_login(user)
    urls = {reverse("admin:index")}
    for model in registered_admins():
        meta = model._meta
        urls |= {reverse(f"admin:{meta.app_label}_{meta.model_name}_{page}") for page in ("changelist", "add")}
        for pk in model._default_manager.values_list("pk", flat=True)[:5]:
            for page in ("change", "history", "delete"):
                urls.add(reverse(f"admin:{meta.app_label}_{meta.model_name}_{page}", args=[pk]))
    for name in admin_url_names():
        if name.startswith("admin:") and name != "admin:logout":
            urls |= _custom_urls(name)
    for url in sorted(urls):
        response = client.get(url)
        if response.status_code == 200 and not response.streaming:
            scan.look(f"admin pages as {role}", url, response.content)
    client.logout()


def _custom_urls(name: str) -> set[str]:
    """NAME reversed without arguments, or with the first row of the model it is named after."""
    try:
        return {reverse(name)}
    except NoReverseMatch:
        pass
    for model in apps.get_models():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if name.startswith(prefix) and (pk := model._default_manager.values_list("pk", flat=True).first()):
            try:
                return {reverse(name, args=[pk])}
            except NoReverseMatch:
                return set()
    return set()


def _children(scan: Scan, spy: ProcSpy) -> None:
    for child in spy.children:
        where = f"{child.kind} {' '.join(child.argv)[:60]}"
        scan.look(f"/proc cmdline of {child.kind}", where, "\0".join(child.argv))
        env = {name: value for name, value in child.env if name not in CARRIERS.get(child.kind, set())}
        scan.look(f"/proc environ of {child.kind}", where, json.dumps(env))


def test_no_secret_in_plain_text_anywhere(
    world, qcluster, manage, receiver, tmp_path, remote_sshd, client, role_user, capsys
):
    spy, cluster, outputs = _run_everything(world, qcluster, manage, receiver, tmp_path, remote_sshd)
    scan = Scan(world.secrets)

    scan.look("PostgreSQL dump", "pg_dump", dump_test_database())
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        scan.look(
            "SQLite file",
            settings.DATABASES["default"]["NAME"],
            open(settings.DATABASES["default"]["NAME"], "rb").read(),
        )
    _stored_rows(scan)
    scan.look("worker log", "qcluster stdout and stderr", cluster.log())
    for result in outputs:
        scan.look("command output", " ".join(result.args[2:4]), result.stdout + result.stderr)
        if result.args[2] == "export_config":
            assert result.returncode == 0 and "scanhost" in result.stdout, result.stderr
    notifications = [r for r in receiver.received if r.path.startswith("/notify/")]
    assert len(notifications) >= 2
    for request in notifications:
        scan.look("notification bodies", request.path[:8], request.body)
    with override_settings(BORGUI_METRICS_TOKEN=METRICS_TOKEN):
        metrics = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert metrics.status_code == 200
    scan.look("/metrics", "/metrics", metrics.content)
    for role in ("admin", "operator", "viewer"):
        _admin_pages(scan, client, role_user(role), role)
    _children(scan, spy)

    # The controls: the secrets were there to be found, and did reach the children needing them.
    assert {child.kind for child in spy.children} >= {"borg", "hook", "sshfs", "ssh", "apt-get"}
    assert any(dict(child.env).get("API_TOKEN") == secretkit.SECRET_PARAMETER for child in spy.of_kind("hook"))
    assert "token: ***" in ScriptExecution.objects.filter(run__isnull=False).first().stdout
    assert Scan(world.secrets).secrets["SSH key"] in remote_sshd.private_key

    with capsys.disabled():
        total = sum(scan.places.values())
        print(f"\nsecret scans: {len(world.secrets)} secrets, {total} places scanned, {len(scan.leaks)} leaks")
        for kind, count in sorted(scan.places.items()):
            print(f"  {kind}: {count}")
    assert scan.leaks == []
