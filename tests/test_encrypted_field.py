"""Secrets are encrypted at rest: the database and its dump never hold the plaintext."""

import os

import pytest
from cryptography.fernet import Fernet
from django.db import connection, models
from django.test.utils import isolate_apps, override_settings

from common.crypto import SecretUnreadable
from common.fields import EncryptedTextField
from tests.harness.postgres import dump_test_database

SECRET = "correct horse battery staple"


@pytest.fixture
def vault_model(transactional_db):
    with isolate_apps("borgui"):

        class Vault(models.Model):
            name = models.CharField(max_length=20)
            secret = EncryptedTextField()

            class Meta:
                app_label = "borgui"
                db_table = "test_vault"

            def __str__(self):
                return self.name

    with connection.schema_editor() as editor:
        editor.create_model(Vault)
    yield Vault
    with connection.schema_editor() as editor:
        editor.delete_model(Vault)


def _raw_secret(pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM test_vault WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_round_trip_and_ciphertext_at_rest(vault_model):
    saved = vault_model.objects.create(name="a", secret=SECRET)
    assert vault_model.objects.get(pk=saved.pk).secret == SECRET
    raw = _raw_secret(saved.pk)
    assert SECRET not in raw
    assert Fernet(os.environ["BORGUI_ENCRYPTION_KEY"]).decrypt(raw.encode()).decode() == SECRET


def test_empty_secret_stays_empty_so_not_set_is_queryable(vault_model):
    saved = vault_model.objects.create(name="b")
    assert _raw_secret(saved.pk) == ""
    assert vault_model.objects.filter(secret="").count() == 1


def test_secret_absent_from_a_pg_dump(vault_model):
    vault_model.objects.create(name="c", secret=SECRET)
    dump = dump_test_database("test_vault")
    assert "test_vault" in dump
    assert SECRET not in dump


def test_key_rotation_reads_old_secrets_and_a_wrong_key_says_so(vault_model):
    saved = vault_model.objects.create(name="d", secret=SECRET)
    old_key = os.environ["BORGUI_ENCRYPTION_KEY"]
    new_key = Fernet.generate_key().decode()
    with override_settings(BORGUI_ENCRYPTION_KEYS=[new_key, old_key]):
        assert vault_model.objects.get(pk=saved.pk).secret == SECRET
    with override_settings(BORGUI_ENCRYPTION_KEYS=[new_key]):
        with pytest.raises(SecretUnreadable, match="BORGUI_ENCRYPTION_KEY is not the key it was saved with"):
            vault_model.objects.get(pk=saved.pk)
