from django.db import migrations

from accounts.roles import sync_from_migration


class Migration(migrations.Migration):
    """The groups' permissions on the records of remote-source mounts."""

    dependencies = [
        ("accounts", "0004_archive_and_notification_permissions"),
        ("repositories", "0010_merge_remote_sources"),
        ("archives", "0002_restore_target_connection"),
    ]

    operations = [migrations.RunPython(sync_from_migration, migrations.RunPython.noop)]
