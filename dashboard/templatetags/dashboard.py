from django import template
from django.urls import reverse

from dashboard import services

register = template.Library()


@register.inclusion_tag("admin/dashboard/dashboard.html", takes_context=True)
def dashboard(context):
    """The front page's sections, each for who may view what it shows (docs/dashboard.md)."""
    request = context["request"]
    return {
        "request": request,
        "board": services.build(request.user),
        "progress_url": reverse("dashboard_progress"),
        "user": request.user,
    }
