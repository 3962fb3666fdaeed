from django import template
from django.template.defaultfilters import filesizeformat

from archives.services import paths

register = template.Library()


@register.filter
def human_size(value):
    return "" if value is None else filesizeformat(value)


@register.filter
def signed_size(value):
    return ("-" if value < 0 else "+") + filesizeformat(abs(value))


@register.filter
def parent_path(path):
    return paths.parent_of(path)
