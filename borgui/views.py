from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


@never_cache
def healthz(request):
    """Liveness and database reachability, for container health checks and monitors."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as e:  # any database error means "not healthy", never a 500 page
        return JsonResponse({"status": "error", "database": str(e).splitlines()[0]}, status=503)
    return JsonResponse({"status": "ok"})
