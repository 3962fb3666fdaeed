"""manage.py rotate_encryption_key: every secret re-encrypted under a new key, end to end
(docs/security.md#rotating-the-key)."""

import os

import pytest
from cryptography.fernet import Fernet
from django.db.models import TextField, Value
from django.db.models.functions import Cast
from django.test.utils import override_settings

from common.crypto import SecretUnreadable
from common.rotation import encrypted_fields
from repositories.models import Repository, SSHConnection
from tests.secretkit import PASSPHRASE, build

pytestmark = pytest.mark.django_db(transaction=True)

KEY_A = os.environ["BORGUI_ENCRYPTION_KEY"]  # the suite's key: what the secrets are saved with
KEY_B = Fernet.generate_key().decode()


def _ciphertexts() -> dict[str, list[str]]:
    found = {}
    for model, field in encrypted_fields():
        rows = model._default_manager.annotate(c=Cast(field.attname, TextField())).exclude(c="")
        found[f"{model._meta.label}.{field.name}"] = list(rows.order_by("pk").values_list("c", flat=True))
    return found


def _every_secret_decrypts() -> int:
    count = 0
    for model, field in encrypted_fields():
        for value in model._default_manager.exclude(**{field.attname: ""}).values_list(field.attname, flat=True):
            assert value, f"{model._meta.label}.{field.name}"
            count += 1
    return count


def test_rotating_to_a_new_key_then_dropping_the_old_one(tmp_path, manage):
    world = build(tmp_path)
    before = _ciphertexts()
    empty = [label for label, values in before.items() if not values]
    assert empty == [], "every encrypted field of every model holds a secret in this test"

    dry = manage("rotate_encryption_key", "--dry-run", env={"BORGUI_ENCRYPTION_KEY": f"{KEY_B},{KEY_A}"})
    assert dry.returncode == 0, dry.stderr
    total = sum(len(values) for values in before.values())
    assert dry.stdout.splitlines()[-1] == f"{total} secret(s) to re-encrypt, 0 error(s) (dry run)"
    assert "repositories.Repository.passphrase: 1 to re-encrypt, 0 already current" in dry.stdout
    assert _ciphertexts() == before, "a dry run changes nothing"

    done = manage("rotate_encryption_key", env={"BORGUI_ENCRYPTION_KEY": f"{KEY_B},{KEY_A}"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"{total} secret(s) re-encrypted, 0 error(s)"
    again = manage("rotate_encryption_key", env={"BORGUI_ENCRYPTION_KEY": f"{KEY_B},{KEY_A}"})
    assert again.stdout.splitlines()[-1] == "0 secret(s) re-encrypted, 0 error(s)", "idempotent"

    with override_settings(BORGUI_ENCRYPTION_KEYS=[KEY_B]):
        assert _every_secret_decrypts() == total
        assert world.plan.ordered_repositories()[0].passphrase == PASSPHRASE
    with override_settings(BORGUI_ENCRYPTION_KEYS=[KEY_A]), pytest.raises(SecretUnreadable):
        SSHConnection.objects.get().private_key  # noqa: B018 - the old key alone opens nothing now

    backup = manage("run_backup", "vaulted", env={"BORGUI_ENCRYPTION_KEY": KEY_B})
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert "status: success" in backup.stdout


def test_a_secret_no_configured_key_opens_is_reported_and_the_rest_rotated(tmp_path, manage):
    build(tmp_path)
    stranger = Fernet(Fernet.generate_key()).encrypt(b"from another install").decode()
    # Written as it is: a plain value would be encrypted (with the current key) on the way in.
    SSHConnection.objects.filter(name="vault-host").update(private_key=Value(stranger, output_field=TextField()))
    connection_pk = SSHConnection.objects.values_list("pk", flat=True).get(name="vault-host")

    result = manage("rotate_encryption_key", env={"BORGUI_ENCRYPTION_KEY": f"{KEY_B},{KEY_A}"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[0] == (
        f"error: repositories.SSHConnection.private_key of row {connection_pk}: "
        "cannot be decrypted with any configured key"
    )
    assert result.stdout.splitlines()[-1].endswith("re-encrypted, 1 error(s)")
    with override_settings(BORGUI_ENCRYPTION_KEYS=[KEY_B]):  # the others open with the new key alone
        assert Repository.objects.get(name="vault").passphrase == PASSPHRASE
