from django.db import migrations

from accounts.roles import sync_from_migration


class Migration(migrations.Migration):
    """The groups' permissions on archives (browse, download, restore, delete) and notifications."""

    dependencies = [
        ("accounts", "0003_sign_in_permissions"),
        ("repositories", "0009_merge_0008_repository_holds_0008_run_permissions"),
        ("archives", "0001_initial"),
        ("notifications", "0001_initial"),
    ]

    operations = [migrations.RunPython(sync_from_migration, migrations.RunPython.noop)]
