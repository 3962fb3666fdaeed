"""Helpers for admin page tests."""

from django.db import connection
from django.test.utils import CaptureQueriesContext


def count_changelist_queries(client, url: str, expected_rows: int) -> int:
    """Queries one changelist page costs; checks it shows the expected number of rows."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == expected_rows
    return len(queries)
