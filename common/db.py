"""The database connection of a long-lived process (docs/reliability.md#the-guarantees)."""

from django.db import connection


def reconnect_if_broken() -> None:
    """Between the steps of a long run: a connection the server cut (PostgreSQL restarted,
    a failover) is closed here, so the next query opens a new one instead of every later
    step failing with "the connection is closed". With health checks on (PostgreSQL) a live
    connection costs one check; SQLite, which has none, is left alone unless a query failed.
    Nothing is done inside a transaction."""
    if connection.connection is None or connection.in_atomic_block:
        return
    if connection.errors_occurred or connection.health_check_enabled:
        connection.close_if_unusable_or_obsolete()
