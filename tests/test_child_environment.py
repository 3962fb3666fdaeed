"""What every child process of borgui inherits: never borgui's own keys, database or secrets.

The test process has SECRET_KEY, DATABASE_URL and BORGUI_ENCRYPTION_KEY set (conftest), as
a worker has; borg, hooks, apt-get and the ssh client must each start without them.
"""

import os

import pytest

from common import childenv
from hooks.services.environment import HookContext, build_hook_environment
from hooks.services.runner import _default_ssh_client_env
from packages_admin.services import apt_env
from repositories.borg import _base_environment
from repositories.services import runs
from tests import secretkit
from tests.factories import make_plan
from tests.packagekit import make_fake_tools
from tests.prockit import ProcSpy
from tests.remotekit import connect

SECRETS = ("SECRET_KEY", "DATABASE_URL", "BORGUI_ENCRYPTION_KEY", "BORGUI_DATA_DIR")


@pytest.fixture
def worker_environ(monkeypatch):
    for name, value in {
        "BORG_PASSPHRASE": "pp",
        "BORG_NEW_PASSPHRASE": "new",
        "BORG_KEY_FILE": "/k",
        "BORG_UI_HOOK_TYPE": "forged",
        "DJANGO_SUPERUSER_PASSWORD": "pw",
        "HTTPS_PROXY": "http://proxy:3128",
        "SOME_USER_SETTING": "for hooks",
    }.items():
        monkeypatch.setenv(name, value)
    assert all(name in os.environ for name in SECRETS)


@pytest.mark.parametrize(
    "child",
    [
        pytest.param(lambda: apt_env(), id="apt-get"),
        pytest.param(lambda: _base_environment(), id="borg"),
        pytest.param(lambda: build_hook_environment(os.environ, HookContext(hook_type="pre-backup"), {}), id="hook"),
        pytest.param(lambda: _default_ssh_client_env(), id="ssh client"),
    ],
)
def test_no_child_inherits_borguis_secrets(worker_environ, child):
    env = child()
    leaked = [name for name in env if name in SECRETS or not childenv.may_inherit(name)]
    assert leaked == [] or leaked == ["BORG_UI_HOOK_TYPE"] and env["BORG_UI_HOOK_TYPE"] == "pre-backup"
    assert "BORG_PASSPHRASE" not in env and "DJANGO_SUPERUSER_PASSWORD" not in env


def test_apt_gets_a_minimal_environment_and_hooks_the_rest(worker_environ):
    apt = apt_env()
    assert apt["HTTPS_PROXY"] == "http://proxy:3128" and apt["PATH"] == os.environ["PATH"]
    assert apt["DEBIAN_FRONTEND"] == "noninteractive"
    assert "SOME_USER_SETTING" not in apt  # maintainer scripts run as root: nothing they do not need
    hook = build_hook_environment(os.environ, HookContext(hook_type="pre-backup"), {})
    assert hook["PATH"] == os.environ["PATH"] and hook["SOME_USER_SETTING"] == "for hooks"


# --- read back from /proc while each child runs ---------------------------------------------

BORG_SETS = {
    "BORG_BASE_DIR", "BORG_RELOCATED_REPO_ACCESS_IS_OK", "BORG_DISPLAY_PASSPHRASE", "BORG_PASSPHRASE",
    "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "BORG_KEY_FILE", "BORG_RSH",
}  # fmt: skip
HOOK_PARAMETERS = {"API_TOKEN"}  # the secret parameter of tests/secretkit.py's hook
# What each kind of child may have, as docs/security.md ("What child processes inherit") says.
ALLOWED = {
    "hook": lambda name: childenv.may_inherit(name) or name.startswith("BORG_UI_") or name in HOOK_PARAMETERS,
    "borg": lambda name: childenv.may_inherit(name, also_strip=("BORG_",)) or name in BORG_SETS,
    "apt-get": lambda name: name in childenv.MINIMAL_NAMES or name.startswith("LC_") or name == "DEBIAN_FRONTEND",
    "sshfs": lambda name: name in childenv.MINIMAL_NAMES or name.startswith("LC_") or name == "SSH_AUTH_SOCK",
}
ALLOWED["ssh"] = ALLOWED["sshfs"]  # the ssh that sshfs starts
# The one variable that may hold a secret, per kind of child.
SECRET_CARRIER = {"borg": {"BORG_PASSPHRASE"}, "hook": HOOK_PARAMETERS}


@pytest.fixture
def every_kind_of_child(tmp_path, remote_sshd, manage, settings):
    """Runs borg create (a local and an SSHFS plan), a hook, an archive stream, sshfs and
    apt-get (a fake one that sleeps) while a spy reads /proc; returns the spy and the world."""
    settings.BORGUI_NOTIFY_RETRY_SECONDS = 0  # the world's channel and ping URL lead nowhere
    remote_sshd.remote("rm -rf /srv/envcheck && mkdir -p /srv/envcheck && echo hi > /srv/envcheck/a")
    connection = connect(remote_sshd, name="envhost")
    world = secretkit.build(tmp_path, connection=connection)
    pulled = make_plan(
        "pulled", world.plan.ordered_repositories(), ["/srv/envcheck"], source_connection=connection,
        sources_on="source",
    )  # fmt: skip
    fake_apt = make_fake_tools(tmp_path / "fakebin", tmp_path / "apt-calls", body="sleep 1")
    # sshfs leaves the process tree once mounted, and its ssh with it: found by the port.
    with ProcSpy([str(tmp_path), str(settings.DATA_DIR), str(remote_sshd.port)]) as spy:
        assert runs.run_in_foreground(world.plan).status == "success"
        assert runs.run_in_foreground(pulled).status == "success"
        stream = manage("download_archive", "vault", "latest", "--output", str(tmp_path / "out.tar.gz"))
        assert stream.returncode == 0, stream.stderr
        manage("install_packages", "hello", env={"PATH": fake_apt})
    yield spy, world
    remote_sshd.remote("rm -rf /srv/envcheck")


@pytest.mark.django_db(transaction=True)
def test_each_running_child_has_only_what_the_docs_allow(every_kind_of_child):
    spy, world = every_kind_of_child
    assert {child.kind for child in spy.children} >= {"borg", "hook", "sshfs", "ssh", "apt-get"}
    borg_commands = {word for child in spy.of_kind("borg") for word in child.argv}
    assert {"create", "export-tar"} <= borg_commands, "a backup and an archive stream were seen"
    problems = []
    for child in spy.children:
        shown = f"{child.kind} {' '.join(child.argv)[:80]}"
        problems += [f"{shown}: has {name}" for name in child.environ if not ALLOWED[child.kind](name)]
        for kind, secret in world.secrets.items():
            if any(secret in word for word in child.argv):
                problems.append(f"{shown}: the {kind} on its command line")
            carriers = [name for name, value in child.env if secret in value]
            if set(carriers) - SECRET_CARRIER.get(child.kind, set()):
                problems.append(f"{shown}: the {kind} in {carriers}")
    assert problems == []
    borg_create = next(child for child in spy.of_kind("borg") if "create" in child.argv)
    assert borg_create.environ["BORG_PASSPHRASE"] == secretkit.PASSPHRASE  # the control: the spy sees it
    assert "SECRET_KEY" in os.environ and "SECRET_KEY" not in borg_create.environ
