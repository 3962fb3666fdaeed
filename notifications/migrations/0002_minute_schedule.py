from django.db import migrations

MINUTE_SCHEDULE = "borgui:notifications"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    # Every minute, a worker looks for stale plans and recomputes the metrics from the history.
    Schedule.objects.get_or_create(
        name=MINUTE_SCHEDULE,
        defaults={"func": "notifications.tasks.every_minute", "schedule_type": "I", "minutes": 1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=MINUTE_SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
