from django.db import migrations

from accounts.roles import sync_from_migration


class Migration(migrations.Migration):
    """The admin group's permissions on failed sign-ins (django-axes) and two-factor devices (django-otp)."""

    dependencies = [
        ("accounts", "0002_role_groups"),
        ("axes", "0010_accessattemptexpiration"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(sync_from_migration, migrations.RunPython.noop)]
