from borgui.views import healthz


class HealthCheckMiddleware:
    """Answer /healthz before host validation and the HTTPS redirect.

    Container health checks and monitors call it as http://127.0.0.1:PORT/healthz, which
    ALLOWED_HOSTS or BORGUI_HTTPS would otherwise turn into a 400 or a redirect.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz":
            return healthz(request)
        return self.get_response(request)
