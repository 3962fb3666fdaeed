"""The ready Docker templates of the script library (docs/docker-hooks.md#ready-templates): stop, start and restart a
container, dump PostgreSQL through docker exec. ``manage.py recreate_templates`` restores
them later when missing or changed."""

from django.db import migrations


def create_templates(apps, schema_editor):
    from hooks.docker_templates import sync_templates

    sync_templates(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("hooks", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_templates, migrations.RunPython.noop),
    ]
