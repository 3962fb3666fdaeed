from django import template

from common.humanize import human_size

register = template.Library()


@register.filter
def badge(status):
    from repositories.admin import status_badge

    return status_badge(status)


register.filter("size", human_size)
