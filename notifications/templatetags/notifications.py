from django import template

from notifications.models import PlanMonitoring

register = template.Library()


@register.inclusion_tag("admin/notifications/stale_plans.html")
def stale_plans():
    """The enabled plans in an open stale episode, for the admin's front page."""
    stale = PlanMonitoring.objects.filter(stale_since__isnull=False, plan__enabled=True).select_related("plan")
    return {"stale": list(stale.order_by("plan__name"))}
