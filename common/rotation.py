"""Re-encrypting every stored secret under the current key (docs/security.md#rotating-the-key).

Every ``EncryptedTextField`` of every installed model is found through the app registry,
so a secret field added later is rotated without changing this code. Values are read and
written as ciphertext (never decrypted into the ORM), and each row is written only if it
still holds what was read: a secret the admin changed meanwhile is reported, not undone.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.db.models import TextField, Value
from django.db.models.functions import Cast

from common import crypto
from common.fields import EncryptedTextField


@dataclass
class FieldReport:
    label: str  # app_label.Model.field
    rotated: int = 0
    current: int = 0  # already under the current key
    errors: list[str] = field(default_factory=list)


def encrypted_fields() -> Iterator[tuple[type, EncryptedTextField]]:
    for model in apps.get_models():
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, EncryptedTextField):
                yield model, model_field


def _ciphertexts(model, model_field):
    raw = Cast(model_field.attname, TextField())  # TextField: no decryption on the way out
    return model._default_manager.annotate(ciphertext=raw).exclude(ciphertext="")


def rotate_field(model, model_field, dry_run: bool) -> FieldReport:
    report = FieldReport(f"{model._meta.label}.{model_field.name}")
    rows = _ciphertexts(model, model_field)
    for pk, token in rows.values_list("pk", "ciphertext").order_by("pk").iterator():
        if crypto.is_current(token):
            report.current += 1
            continue
        try:
            new_token = crypto.rotate(token)
        except crypto.SecretUnreadable as e:
            report.errors.append(f"{report.label} of row {pk}: {e}")
            continue
        if not dry_run:
            written = rows.filter(pk=pk, ciphertext=token).update(
                **{model_field.attname: Value(new_token, output_field=TextField())}
            )
            if not written:
                report.errors.append(f"{report.label} of row {pk}: changed while rotating, run the command again")
                continue
        report.rotated += 1
    return report


def rotate_all(dry_run: bool = False) -> list[FieldReport]:
    return [rotate_field(model, model_field, dry_run) for model, model_field in encrypted_fields()]
