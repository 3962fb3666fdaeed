"""Script executions of restore drills, and the postgres-restore-drill template
(docs/maintenance.md) for databases made before it shipped."""

from django.db import migrations, models


def create_templates(apps, schema_editor):
    from hooks.docker_templates import sync_templates

    sync_templates(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("hooks", "0003_hook_type_labels"),
    ]

    operations = [
        migrations.AlterField(
            model_name="scriptexecution",
            name="hook_type",
            field=models.CharField(
                choices=[
                    ("pre-backup", "pre-backup"),
                    ("post-backup", "post-backup"),
                    ("test", "test"),
                    ("restore-drill", "restore-drill"),
                ],
                max_length=13,
            ),
        ),
        migrations.RunPython(create_templates, migrations.RunPython.noop),
    ]
