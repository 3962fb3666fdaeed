"""A borgui holding one of every kind of secret, each a string no other test uses, so a
scan can look for it anywhere (tests/test_secret_scans.py, tests/test_key_rotation.py)."""

import json
from dataclasses import dataclass, field
from pathlib import Path

from hooks.models import ScriptExecution, ScriptParameter
from maintenance.models import PlanMaintenance
from notifications.models import Channel, PlanMonitoring
from repositories.models import BackupPlan, SSHConnection
from tests.factories import make_plan, make_repository, make_source_tree
from tests.hookkit import attach, make_script

PASSPHRASE = "pp-9f3e7c-correct-horse-battery"
SECRET_PARAMETER = "sp-4b1d8a-token"
CHANNEL_TOKEN = "ch-7e2c5f-token"
PING_TOKEN = "pi-3a9d6b-token"
# Long enough that it is this key's body, not a common base64 run.
FAKE_SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQ"
    "secretkitFakeKeyBody5d2e8f\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def key_body(private_key: str) -> str:
    """The longest line of an OpenSSH private key: what a leak of it would contain."""
    return max(private_key.strip().splitlines()[1:-1], key=len)


@dataclass
class SecretWorld:
    plan: BackupPlan
    secrets: dict[str, str] = field(default_factory=dict)  # kind -> the text a leak would show


def build(
    tmp_path: Path, connection: SSHConnection | None = None, notify_url: str = "", ping_url: str = ""
) -> SecretWorld:
    """An encrypted repository, a plan with a hook taking a secret parameter, a channel, a
    ping URL, an SSH connection (CONNECTION, else one with a fake key) and every other
    encrypted field filled."""
    repository = make_repository(tmp_path / "repo", name="vault", encryption="repokey", passphrase=PASSPHRASE)
    repository.exported_key = f"exported-key-of-{PASSPHRASE}"
    repository.save(update_fields=["exported_key"])
    plan = make_plan("vaulted", [repository], [make_source_tree(tmp_path / "src")])
    # It prints its secret on both streams: what borgui stores and logs must show it masked.
    body = '#!/bin/sh\nsleep 0.5\necho "token: $API_TOKEN"\necho "token again: $API_TOKEN" >&2\n'
    script = make_script("uses-a-token", body)
    ScriptParameter.objects.create(script=script, name="API_TOKEN", secret=True)
    attach(plan, script, "pre-backup", values={"API_TOKEN": SECRET_PARAMETER})
    ScriptExecution.objects.create(
        script=script, script_name=script.name, hook_type="test", state="done",
        test_parameters=json.dumps({"API_TOKEN": SECRET_PARAMETER}),
    )  # fmt: skip
    PlanMaintenance.objects.create(
        plan=plan, drill_script=script, drill_parameter_values=json.dumps({"API_TOKEN": SECRET_PARAMETER})
    )
    channel_url = notify_url or f"json://127.0.0.1:9/notify?token={CHANNEL_TOKEN}"
    Channel.objects.create(name="ops", url=channel_url, events=["success", "failure"])
    PlanMonitoring.objects.create(plan=plan, ping_url=ping_url or f"http://127.0.0.1:9/ping/{PING_TOKEN}")
    if connection is None:
        connection = SSHConnection.objects.create(
            name="vault-host", host="127.0.0.1", username="backup", private_key=FAKE_SSH_KEY
        )
    return SecretWorld(
        plan=plan,
        secrets={
            "repository passphrase": PASSPHRASE,
            "secret parameter": SECRET_PARAMETER,
            "channel URL": CHANNEL_TOKEN,
            "ping URL": PING_TOKEN,
            "SSH key": key_body(connection.private_key),
        },
    )
