from django.db import migrations

from accounts.roles import sync_from_migration


class Migration(migrations.Migration):
    """The groups' permissions on maintenance: operators check, verify and drill; admins compact."""

    dependencies = [
        ("accounts", "0006_restore_anywhere_permission"),
        ("maintenance", "0002_compact_permission"),
    ]

    operations = [migrations.RunPython(sync_from_migration, migrations.RunPython.noop)]
