from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest

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


class RequestBodyLimitMiddleware:
    """Refuse a request body over DATA_UPLOAD_MAX_MEMORY_SIZE with a plain 413, uploads included.

    Django limits form fields but streams file uploads to disk whatever their size; borgui
    takes no uploads, so nothing larger is ever needed (docs/security.md, "Hostile input").
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponseBadRequest("The Content-Length header is not a number.\n", content_type="text/plain")
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return HttpResponse(
                f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.\n",
                status=413,
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


class NulCharacterMiddleware:
    """Refuse a NUL character in the path or the query string with a plain 400.

    No value borgui takes may hold one, and PostgreSQL refuses it in any text it is given,
    so a NUL that reached a lookup (an admin search, a list filter, an archive path) was a
    500. Form posts are left to the forms, which name the field ("Null characters are not
    allowed").
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.GET
        if "\x00" in request.path or any("\x00" in key + "".join(query.getlist(key)) for key in query):
            return HttpResponseBadRequest(
                "NUL characters are not allowed in a URL.\n", content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)
