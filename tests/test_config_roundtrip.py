"""export_config and apply_config round trip (docs/configuration.md#exporting), through manage.py against the test
database: a file that uses every key, secrets included, applies; a second apply changes
nothing; its export holds no secret; that export applied to an emptied database (with
the variables it names) exports the same text again."""

import re
import textwrap

import pytest
from django.db import connection

from hooks.models import HookAttachment, Script
from repositories.models import BackupPlan, Repository, SSHConnection

pytestmark = pytest.mark.django_db(transaction=True)

KEY_INLINE = "-----BEGIN OPENSSH PRIVATE KEY-----\ninline-key-material\n-----END OPENSSH PRIVATE KEY-----\n"
KEY_ENV = "-----BEGIN OPENSSH PRIVATE KEY-----\nenv-key-material\n-----END OPENSSH PRIVATE KEY-----\n"
KEY_FILE = "-----BEGIN OPENSSH PRIVATE KEY-----\nfile-key-material\n-----END OPENSSH PRIVATE KEY-----\n"
BORG_KEY = "BORG_KEY 0123456789abcdef\nhqlhbGdvcml0aG2mc2hhMjU2\n"
SECRETS = {
    "KEY_ENV": KEY_ENV,
    "MAIN_PASSPHRASE": "correct horse battery staple",
    "DB_PASSWORD_VALUE": "s3cret-db-password",
}
FILE_SECRETS = {
    "web3.key": KEY_FILE,
    "offsite.pass": "offsite passphrase\n",
    "offsite.key": BORG_KEY,
    "api.token": "token-from-a-file\n",
}
NOTHING_TO_DO = r"0 created, 0 updated, 0 removed, \d+ unchanged\n"
PLAIN = {
    "inline passphrase": "the inline passphrase",
    "KEY_INLINE": KEY_INLINE,
}

EVERY_KEY = """\
ssh_connections:
  - name: web1
    host: 192.0.2.10
    port: 22
    username: backup
    private_key: |
{key_inline}
    known_hosts: "192.0.2.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBorguiTestKey"
  - name: db-host
    host: db.example.internal
    port: 2222
    username: root
    private_key_env: KEY_ENV
  - name: db_host
    host: 2001:db8::5
    username: backup
    private_key_file: {tmp}/web3.key
scripts:
  - name: stop-db
    description: Stop the database container
    body: |
      #!/usr/bin/env bash
      set -euo pipefail
      docker stop "${{CONTAINER_NAME:-postgres}}"
    timeout: 120
    execution_target: source
    parameters:
      - {{name: CONTAINER_NAME, default: postgres, required: false, secret: false,
         description: Container to stop}}
      - {{name: DB_PASSWORD, required: true, secret: true, description: Its password}}
      - {{name: API_TOKEN, secret: true}}
    approved: true
  - name: start-db
    body: |
      #!/usr/bin/env bash
      docker start "${{CONTAINER_NAME:-postgres}}"
    parameters:
      - {{name: CONTAINER_NAME, default: postgres}}
    approved: false
  - name: notify
    body: "echo done\\n"
repositories:
  - name: main
    path: {tmp}/repo-main
    encryption: repokey-blake2
    passphrase_env: MAIN_PASSPHRASE
    init: true
    source_connection: web1
    pre_backup_script: |
      #!/bin/sh
      echo inline pre
    post_backup_script: |
      #!/bin/sh
      echo "inline post: $BORG_UI_BACKUP_STATUS"
    hooks:
      pre-backup:
        - {{script: stop-db, on_failure: fail, timeout: 60, enabled: true,
           parameters: {{CONTAINER_NAME: db1, DB_PASSWORD: {{env: DB_PASSWORD_VALUE}},
                        API_TOKEN: {{file: {tmp}/api.token}}}}}}
        - {{script: notify, on_failure: skip, enabled: false}}
      post-backup:
        - {{script: start-db, run_on: always, on_failure: continue, parameters: {{CONTAINER_NAME: db1}}}}
        - {{script: notify, run_on: failure, on_failure: fail, timeout: 5}}
  - name: offsite
    path: ssh://backup@192.0.2.20:2222/./offsite
    encryption: keyfile-blake2
    passphrase_file: {tmp}/offsite.pass
    exported_key_file: {tmp}/offsite.key
  - name: plain
    path: {tmp}/repo-plain
    encryption: authenticated
    passphrase: the inline passphrase
    hooks: {{pre-backup: [], post-backup: []}}
plans:
  - name: nightly
    repositories: [main, offsite]
    sources: [/srv/data, /srv/more data]
    excludes: ["*.tmp", "/srv/data/cache"]
    compression: zstd,3
    archive_name: "{{plan}}-{{repository}}-{{now:%Y-%m-%d}}"
    schedule: "0 3 * * *"
    timezone: Europe/Berlin
    enabled: true
    on_repository_failure: stop
    source_connection: db-host
    retention: {{keep_within: 2d, keep_hourly: 0, keep_daily: 7, keep_weekly: 4, keep_monthly: 6, keep_yearly: 1}}
    stop_containers: [postgres, "label:borgui.stop-during-backup=true"]
    hooks:
      pre-backup:
        - {{script: stop-db, parameters: {{DB_PASSWORD: {{env: DB_PASSWORD_VALUE}}}}}}
      post-backup:
        - {{script: start-db}}
  - name: manual
    repositories: [plain]
    sources: [/etc]
    enabled: false
packages:
  - docker.io
  - hello=2.10-3
"""


def every_key_file(tmp_path) -> str:
    for name, content in FILE_SECRETS.items():
        (tmp_path / name).write_text(content)
    key = textwrap.indent(KEY_INLINE.rstrip("\n"), " " * 6)
    return EVERY_KEY.format(tmp=tmp_path, key_inline=key)


def all_secret_values() -> list[str]:
    values = [*SECRETS.values(), *FILE_SECRETS.values(), *PLAIN.values()]
    return [v.strip() for v in values] + ["key-material", "hqlhbGdvcml0aG2m"]


def variables_in_header(text: str) -> dict[str, str]:
    """The variables the export's comment lists: name → description."""
    return dict(re.findall(r"^#   (BORGUI_[A-Z0-9_]+): (.+)$", text, flags=re.MULTILINE))


def values_for(variables: dict[str, str]) -> dict[str, str]:
    """The secret each listed variable must hold, found by what its description names."""
    by_description = {
        "private key of SSH connection web1": KEY_INLINE,
        "private key of SSH connection db-host": KEY_ENV,
        "private key of SSH connection db_host": KEY_FILE,
        "passphrase of repository main": SECRETS["MAIN_PASSPHRASE"],
        "passphrase of repository offsite": "offsite passphrase",
        "borg key (keyfile mode) of repository offsite": BORG_KEY,
        "passphrase of repository plain": "the inline passphrase",
        "DB_PASSWORD of the pre-backup hook 1 (stop-db) of repository main": SECRETS["DB_PASSWORD_VALUE"],
        "API_TOKEN of the pre-backup hook 1 (stop-db) of repository main": "token-from-a-file",
        "DB_PASSWORD of the pre-backup hook 1 (stop-db) of plan nightly": SECRETS["DB_PASSWORD_VALUE"],
    }
    assert sorted(variables.values()) == sorted(by_description)
    return {name: by_description[description] for name, description in variables.items()}


def test_every_key_round_trips_and_a_second_apply_changes_nothing(manage, tmp_path):
    config = tmp_path / "borgui.yaml"
    config.write_text(every_key_file(tmp_path))

    first = manage("apply_config", str(config), env=SECRETS)
    assert (first.returncode, first.stderr) == (0, ""), first.stderr
    assert first.stdout.splitlines() == [
        "created ssh_connection web1",
        "created ssh_connection db-host",
        "created ssh_connection db_host",
        "created script stop-db",
        "created script start-db",
        "created script notify",
        "created repository main (borg init)",
        "created repository offsite",
        "created repository plain",
        "created plan nightly",
        "created plan manual",
        "created package docker.io",
        "created package hello=2.10-3",
        "13 created, 0 updated, 0 removed, 0 unchanged",
    ]
    assert (tmp_path / "repo-main" / "config").is_file()  # init: true made it
    assert not (tmp_path / "repo-plain").exists()  # no init asked
    second = manage("apply_config", str(config), env=SECRETS)
    assert (second.returncode, second.stdout) == (0, "0 created, 0 updated, 0 removed, 13 unchanged\n")

    # What the file says is what the database holds; secrets encrypted at rest.
    main = Repository.objects.get(name="main")
    assert main.passphrase == SECRETS["MAIN_PASSPHRASE"] and main.source_connection.name == "web1"
    assert main.inline_hook_approved("pre-backup") and main.inline_hook_approved("post-backup")
    offsite = Repository.objects.get(name="offsite")
    assert (offsite.passphrase, offsite.exported_key) == ("offsite passphrase", BORG_KEY)
    assert SSHConnection.objects.get(name="db_host").private_key == KEY_FILE
    assert SSHConnection.objects.get(name="web1").private_key == KEY_INLINE
    pre = HookAttachment.objects.filter(repository=main, hook_type="pre-backup").order_by("order")
    assert pre[0].values() == {
        "API_TOKEN": "token-from-a-file",
        "CONTAINER_NAME": "db1",
        "DB_PASSWORD": SECRETS["DB_PASSWORD_VALUE"],
    }
    assert [(a.script.name, a.enabled, a.on_failure) for a in pre] == [
        ("stop-db", True, "fail"),
        ("notify", False, "skip"),
    ]
    assert Script.objects.get(name="stop-db").approved_by == "apply_config"
    assert not Script.objects.get(name="start-db").is_approved
    nightly = BackupPlan.objects.get(name="nightly")
    assert [r.name for r in nightly.ordered_repositories()] == ["main", "offsite"]
    assert nightly.retention_options() == [
        "--keep-within=2d", "--keep-hourly=0", "--keep-daily=7", "--keep-weekly=4", "--keep-monthly=6",
        "--keep-yearly=1",
    ]  # fmt: skip
    assert nightly.stop_containers == ["postgres", "label:borgui.stop-during-backup=true"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT passphrase FROM repositories_repository WHERE name = 'main'")
        assert SECRETS["MAIN_PASSPHRASE"] not in cursor.fetchone()[0]

    exported = manage("export_config")
    assert (exported.returncode, exported.stderr) == (0, ""), exported.stderr
    text = exported.stdout
    for secret in all_secret_values():
        assert secret not in text
    assert "init:" not in text
    # Hooks in the shape and key order of docs/configuration.md#hook-entries.
    assert (
        "- {script: start-db, run_on: always, on_failure: continue, enabled: true, parameters: {CONTAINER_NAME: db1}}"
        in text
    )
    assert "- {script: stop-db, on_failure: fail, enabled: true, parameters: {" in text
    variables = variables_in_header(text)
    assert {
        "BORGUI_SSH_WEB1_PRIVATE_KEY",
        "BORGUI_REPOSITORY_MAIN_PASSPHRASE",
        "BORGUI_REPOSITORY_OFFSITE_EXPORTED_KEY",
        "BORGUI_ATTACHMENT_REPOSITORY_MAIN_PRE_BACKUP_1_DB_PASSWORD",
        "BORGUI_ATTACHMENT_PLAN_NIGHTLY_PRE_BACKUP_1_DB_PASSWORD",
    } <= set(variables)
    # db-host and db_host would share BORGUI_SSH_DB_HOST_PRIVATE_KEY: each gets a suffix of its own.
    clashing = sorted(n for n in variables if n.startswith("BORGUI_SSH_DB_HOST_PRIVATE_KEY_"))
    assert len(clashing) == 2 and all(re.fullmatch(r"BORGUI_SSH_DB_HOST_PRIVATE_KEY_[0-9A-F]{8}", n) for n in clashing)
    for name in variables:
        assert f": {name}\n" in text or f"{{env: {name}}}" in text
    env = values_for(variables)
    (tmp_path / "export.yaml").write_text(text)

    # The export applied to the database it came from: nothing to do.
    same = manage("apply_config", str(tmp_path / "export.yaml"), env=env)
    assert same.returncode == 0 and re.fullmatch(NOTHING_TO_DO, same.stdout), same.stdout

    # A new machine: an empty database, the export and its variables.
    assert manage("flush", "--no-input").returncode == 0
    assert not Repository.objects.exists() and not Script.objects.exists()
    restored = manage("apply_config", "-", input=text, env=env)
    assert restored.returncode == 0, restored.stderr
    again = manage("export_config")
    assert again.stdout == text
    idempotent = manage("apply_config", str(tmp_path / "export.yaml"), env=env)
    assert re.fullmatch(NOTHING_TO_DO, idempotent.stdout), idempotent.stdout
    assert Repository.objects.get(name="main").passphrase == SECRETS["MAIN_PASSPHRASE"]
    assert Repository.objects.get(name="offsite").exported_key == BORG_KEY
    assert (
        HookAttachment.objects.filter(repository__name="main", hook_type="pre-backup")
        .order_by("order")[0]
        .values()["API_TOKEN"]
        == "token-from-a-file"
    )


def test_a_missing_variable_of_an_export_is_named(manage, tmp_path):
    config = tmp_path / "borgui.yaml"
    config.write_text("repositories:\n  - {name: main, path: /backups/main, encryption: repokey, passphrase: pw}\n")
    assert manage("apply_config", str(config)).returncode == 0
    text = manage("export_config").stdout
    assert "#   BORGUI_REPOSITORY_MAIN_PASSPHRASE: passphrase of repository main\n" in text
    assert "    passphrase_env: BORGUI_REPOSITORY_MAIN_PASSPHRASE\n" in text
    result = manage("apply_config", "-", input=text)
    assert result.returncode == 2
    assert result.stderr == (
        "repositories[0].passphrase_env: environment variable BORGUI_REPOSITORY_MAIN_PASSPHRASE is not set\n"
    )
