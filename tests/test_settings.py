"""Settings come from the environment, fail loudly, and never make keys up."""

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from borgui.env import env_bool, env_int, env_list, env_secret
from tests.conftest import ROOT

# --- pure helpers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("true", True), ("YES", True), ("on", True), ("0", False), ("off", False)]
)
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG") is expected


def test_env_bool_rejects_anything_else(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG='maybe' is not a boolean"):
        env_bool("X_FLAG")


def test_env_int_range(monkeypatch):
    monkeypatch.setenv("X_NUM", "0")
    with pytest.raises(ImproperlyConfigured, match="out of range"):
        env_int("X_NUM", 2, minimum=1)
    monkeypatch.setenv("X_NUM", "two")
    with pytest.raises(ImproperlyConfigured, match="not a whole number"):
        env_int("X_NUM", 2)


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("X_HOSTS", " a.example , b.example,,")
    assert env_list("X_HOSTS", []) == ["a.example", "b.example"]


def test_env_secret_order_variable_then_file_then_fallback(monkeypatch, tmp_path):
    given, fallback = tmp_path / "given", tmp_path / "fallback"
    given.write_text("from-file\n")
    fallback.write_text("from-fallback\n")
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.delenv("X_SECRET_FILE", raising=False)
    assert env_secret("X_SECRET", fallback) == "from-fallback"
    monkeypatch.setenv("X_SECRET_FILE", str(given))
    assert env_secret("X_SECRET", fallback) == "from-file"
    monkeypatch.setenv("X_SECRET", "from-env")
    assert env_secret("X_SECRET", fallback) == "from-env"


def test_env_secret_file_that_is_missing_is_an_error(monkeypatch, tmp_path):
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "nope"))
    with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE="):
        env_secret("X_SECRET")


# --- the real settings module in a fresh process ----------------------------------------


def _start_django(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "BORGUI_", "DATABASE_URL"))}
    clean.update(BORGUI_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_refuses_to_start_without_keys_and_says_how_to_create_them(tmp_path):
    result = _start_django(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"borgui: SECRET_KEY is not set: run `python -m borgui.keys` (or `make run`) to create the key "
        f"files in {tmp_path}, or set the variable (or NAME_FILE) yourself"
    ]
    assert list(tmp_path.iterdir()) == [], "settings must never create key files"


def test_refuses_an_encryption_key_that_is_not_a_fernet_key(tmp_path):
    result = _start_django(tmp_path, SECRET_KEY="x" * 50, BORGUI_ENCRYPTION_KEY="hunter2")
    assert result.returncode == 2
    assert "BORGUI_ENCRYPTION_KEY is not a Fernet key" in result.stderr
    assert "Traceback" not in result.stderr


def test_keys_from_files_named_by_file_variables(tmp_path):
    secret_file, key_file = tmp_path / "sk", tmp_path / "ek"
    secret_file.write_text("s" * 50)
    key_file.write_text(Fernet.generate_key().decode())
    result = _start_django(tmp_path, SECRET_KEY_FILE=str(secret_file), BORGUI_ENCRYPTION_KEY_FILE=str(key_file))
    assert result.returncode == 0, result.stderr


def test_bad_debug_value_stops_the_start(tmp_path):
    result = _start_django(
        tmp_path, SECRET_KEY="x" * 50, BORGUI_ENCRYPTION_KEY=Fernet.generate_key().decode(), DEBUG="yes please"
    )
    assert result.returncode == 2
    assert "DEBUG='yes please' is not a boolean" in result.stderr


def test_keys_module_creates_private_key_files_once(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "BORGUI_ENCRYPTION_KEY"))}
    first = subprocess.run(
        [sys.executable, "-m", "borgui.keys", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert first.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encryption.key", "secret_key"]
    for path in tmp_path.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600
    Fernet((tmp_path / "encryption.key").read_text().strip())
    before = (tmp_path / "encryption.key").read_text()
    second = subprocess.run(
        [sys.executable, "-m", "borgui.keys", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert second.stdout == ""
    assert (tmp_path / "encryption.key").read_text() == before, "an existing key must never be replaced"


@pytest.mark.django_db
def test_suite_runs_on_postgresql():
    from django.db import connection

    assert connection.vendor == "postgresql"
    assert connection.pg_version // 10000 == 15


def test_env_networks_reads_addresses_and_ranges_and_refuses_anything_else(monkeypatch):
    from ipaddress import ip_address

    from borgui.env import env_networks

    monkeypatch.setenv("X_NETS", "10.0.0.5, 172.16.0.0/12,::1")
    networks = env_networks("X_NETS")
    assert [ip_address("172.20.1.1") in n for n in networks] == [False, True, False]
    monkeypatch.setenv("X_NETS", "10.0.0.5,proxy.local")
    with pytest.raises(ImproperlyConfigured, match="X_NETS: 'proxy.local' is not an IP address or CIDR range"):
        env_networks("X_NETS")


def test_a_remote_user_header_without_trusted_proxies_stops_the_start(tmp_path):
    result = _start_django(
        tmp_path,
        SECRET_KEY="x" * 50,
        BORGUI_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        BORGUI_REMOTE_USER_HEADER="Remote-User",
    )
    assert result.returncode == 2
    assert "BORGUI_REMOTE_USER_HEADER needs BORGUI_TRUSTED_PROXIES" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BORGUI_OIDC_DISCOVERY_URL": "http://idp/.well-known/openid-configuration"}, "BORGUI_OIDC_CLIENT_SECRET"),
        (
            {"BORGUI_OIDC_CLIENT_SECRET": "s", "BORGUI_OIDC_TOKEN_ENDPOINT": "http://idp/token"},
            "give BORGUI_OIDC_DISCOVERY_URL, or BORGUI_OIDC_AUTHORIZATION_ENDPOINT, BORGUI_OIDC_USERINFO_ENDPOINT, "
            "BORGUI_OIDC_JWKS_ENDPOINT",
        ),
    ],
)
def test_oidc_settings_that_cannot_work_stop_the_start(tmp_path, env, message):
    keys = {"SECRET_KEY": "x" * 50, "BORGUI_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    result = _start_django(tmp_path, **keys, BORGUI_OIDC_CLIENT_ID="borgui", **env)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_oidc_client_secret_from_a_file(tmp_path):
    secret = tmp_path / "oidc-secret"
    secret.write_text("s3cret\n")
    keys = {"SECRET_KEY": "x" * 50, "BORGUI_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    result = _start_django(
        tmp_path,
        **keys,
        BORGUI_OIDC_CLIENT_ID="borgui",
        BORGUI_OIDC_CLIENT_SECRET_FILE=str(secret),
        BORGUI_OIDC_DISCOVERY_URL="http://127.0.0.1:9/.well-known/openid-configuration",
    )
    assert result.returncode == 0, result.stderr
