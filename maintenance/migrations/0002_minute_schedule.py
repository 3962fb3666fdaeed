from django.db import migrations

MINUTE_SCHEDULE = "borgui:maintenance"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    # Every minute, a worker finishes jobs whose process died and re-arms lost schedules.
    Schedule.objects.get_or_create(
        name=MINUTE_SCHEDULE, defaults={"func": "maintenance.tasks.minute", "schedule_type": "I", "minutes": 1}
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=MINUTE_SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("maintenance", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
