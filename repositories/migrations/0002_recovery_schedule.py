from django.db import migrations

RECOVERY_SCHEDULE = "borgui:recover_runs"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    # Every minute, a worker finishes runs whose worker died (docs/running-plans.md#recovery).
    Schedule.objects.get_or_create(
        name=RECOVERY_SCHEDULE,
        defaults={"func": "repositories.tasks.recover_runs", "schedule_type": "I", "minutes": 1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=RECOVERY_SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("repositories", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
