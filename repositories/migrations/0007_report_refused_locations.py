"""Report (never change) repository locations that the location rules now refuse.

A location saved before the rules were tightened may name a host or user that ssh reads
as an option (docs/security.md). borg no longer runs on such a row; this lists them so the
operator corrects them on the repository's page.
"""

import sys

from django.db import migrations


def report_refused_locations(apps, schema_editor):
    from repositories.validators import repository_location_problem

    Repository = apps.get_model("repositories", "Repository")
    for name, location in Repository.objects.order_by("name").values_list("name", "location"):
        problem = repository_location_problem(location)
        if problem:
            sys.stdout.write(f"\n  repository {name}: location refused, borg will not run on it: {problem}")


class Migration(migrations.Migration):
    dependencies = [("repositories", "0006_container_start_retries")]

    operations = [migrations.RunPython(report_refused_locations, migrations.RunPython.noop, elidable=True)]
