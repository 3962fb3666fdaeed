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
