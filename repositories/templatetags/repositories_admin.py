"""`{% load repositories_admin %}`: a status as the admin pages colour it, and the names of a run's phases."""

from django import template

from repositories.admin import status_badge
from repositories.services.steps import Phase

register = template.Library()

PHASE_NAMES = {
    Phase.LEASES: "leases",
    Phase.PLAN_PRE: "plan pre-backup",
    Phase.REPOSITORY_PRE: "pre-backup",
    Phase.CREATE: "backup",
    Phase.PRUNE: "prune",
    Phase.REPOSITORY_POST: "post-backup",
    Phase.PLAN_POST: "plan post-backup",
    Phase.AFTER_RUN: "after the run",
}


@register.filter
def badge(status: str):
    return status_badge(status) if status else ""


@register.filter
def phase_name(phase: Phase) -> str:
    return PHASE_NAMES.get(phase, str(phase))
