"""The database connection of a long-lived process (docs/reliability.md#postgresql-restarted)."""

from django.db import close_old_connections, connection


def reconnect_if_broken() -> None:
    """Between the steps of a long run: a connection the server cut (PostgreSQL restarted,
    a failover) is closed here, so the next query opens a new one instead of every later
    step failing with "the connection is closed". A live connection costs one health
    check (CONN_HEALTH_CHECKS); nothing is done inside a transaction."""
    if not connection.in_atomic_block:
        close_old_connections()
