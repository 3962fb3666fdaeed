from django import template

from archives.services import paths
from common.humanize import human_size, signed_size

register = template.Library()
register.filter("human_size", human_size)
register.filter("signed_size", signed_size)


@register.filter
def parent_path(path):
    return paths.parent_of(path)
