from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_holders_of_run_plan_and_change_repository_keep_cancel_and_check():
    from django.contrib.auth.models import Group, Permission, User
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    before = [("repositories", "0007_report_refused_locations")]
    executor.migrate(before)
    runner = User.objects.create_user("runner")
    runner.user_permissions.add(Permission.objects.get(codename="run_plan"))
    editors = Group.objects.create(name="editors")
    editors.permissions.add(Permission.objects.get(codename="change_repository"))
    Permission.objects.filter(codename__in=["cancel_run", "check_repository"]).delete()  # as before 0007
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert User.objects.get(pk=runner.pk).has_perm("repositories.cancel_run")
    assert editors.permissions.filter(codename="check_repository").exists()
