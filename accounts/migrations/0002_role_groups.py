from django.db import migrations

from accounts.roles import sync_from_migration


class Migration(migrations.Migration):
    """The groups viewer, operator and admin, with the permissions of accounts/roles.py.

    Depends on the latest migration of every app whose permissions the matrix names; a
    later migration that adds or renames such a permission runs the same sync again.
    """

    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("repositories", "0008_run_permissions"),
        ("hooks", "0003_hook_type_labels"),
        ("packages_admin", "0001_initial"),
    ]

    operations = [migrations.RunPython(sync_from_migration, migrations.RunPython.noop)]
