"""borgui's WSGI application as the browser tests' gunicorn serves it.

That gunicorn outlives the tests: each transactional test ends by emptying the database,
and Django then creates the content types again under new ids. The admin caches content
types per process (its change history, LogEntry, refers to them), so a long-lived server
would write stale ids. An in-process server has the cache cleared by the re-creation
itself; this one clears it before each request, and is otherwise the application itself.
"""

from borgui.wsgi import application as borgui_application  # noqa: I001 (first: it sets Django up)
from django.contrib.contenttypes.models import ContentType


def application(environ, start_response):
    ContentType.objects.clear_cache()
    return borgui_application(environ, start_response)
