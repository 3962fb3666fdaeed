from django import template

register = template.Library()


@register.filter
def badge(status):
    from repositories.admin import status_badge

    return status_badge(status)


@register.filter
def size(value):
    from maintenance.admin import human_size

    return human_size(value)
