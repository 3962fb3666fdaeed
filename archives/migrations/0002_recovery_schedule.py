from django.db import migrations

SCHEDULE = "borgui:recover_restores"


def create_schedule(apps, schema_editor):
    # Every minute, a worker finishes restores whose worker died (docs/archives.md).
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=SCHEDULE, defaults={"func": "archives.tasks.recover_restores", "schedule_type": "I", "minutes": 1}
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("archives", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
