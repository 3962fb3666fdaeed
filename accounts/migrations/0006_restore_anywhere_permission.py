from django.db import migrations

from accounts.roles import sync_from_migration


class Migration(migrations.Migration):
    """Restoring outside BORGUI_RESTORE_ROOTS is the admin group's permission, not its name."""

    dependencies = [
        ("accounts", "0005_source_mount_permissions"),
        ("archives", "0004_restore_anywhere_permission"),
    ]

    operations = [migrations.RunPython(sync_from_migration, migrations.RunPython.noop)]
