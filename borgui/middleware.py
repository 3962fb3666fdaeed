from django.http import HttpResponseBadRequest

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


class FormCharsetMiddleware:
    """Refuse a form post in a charset other than UTF-8 with a plain 400.

    Django raises BadRequest for one when the body is first read (in the CSRF check), and
    its error page then reads the body again and fails: a 500 instead of a clear answer.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.content_type == "application/x-www-form-urlencoded":
            charset = request.content_params.get("charset", "utf-8").strip().lower()
            if charset not in ("utf-8", "utf8"):
                return HttpResponseBadRequest(
                    "Form posts must be UTF-8 encoded.\n", content_type="text/plain; charset=utf-8"
                )
        return self.get_response(request)
