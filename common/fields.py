"""Model fields shared by the apps."""

from django.db import models

from common import crypto


class EncryptedTextField(models.TextField):
    """Text kept encrypted in the database; plaintext only in memory.

    An empty value is stored as an empty string, so "is a secret set?" stays a plain
    query. Admin forms never render the value back: see ``common.forms.SecretField``.
    """

    description = "Text encrypted at rest with the borgui encryption key"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        if not value:
            return ""
        return crypto.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return ""
        return crypto.encrypt(value)

    def value_to_string(self, obj):
        # Serialisation (dumpdata) must not leak the plaintext.
        return ""
