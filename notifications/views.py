from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from notifications.services import metrics


@require_GET
def metrics_view(request):
    """/metrics: only when BORGUI_METRICS_TOKEN is set, only with that bearer token."""
    token = settings.BORGUI_METRICS_TOKEN
    if not token:
        raise Http404("metrics are off")
    if not metrics.token_matches(token, request.headers.get("Authorization", "")):
        response = HttpResponse("401 Unauthorized: send Authorization: Bearer TOKEN\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="borgui metrics"'
        return response
    from prometheus_client import CONTENT_TYPE_LATEST

    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
