from django.db import connection


def drop_index_entries(sender, instance, **kwargs):
    """An index's rows go with it in one statement (Django's cascade would load them all)."""
    from archives.models import ArchiveEntry

    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {ArchiveEntry._meta.db_table} WHERE index_id = %s", [instance.pk])
