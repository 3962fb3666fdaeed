"""Template filters for common/humanize.py: `{% load borgui_format %}` then
`{{ bytes|size }}`, `{{ seconds|duration }}`, `{{ moment|when }}`, `{{ moment|ago }}`."""

from django import template

from common import humanize

register = template.Library()

register.filter("size", humanize.human_size)
register.filter("signed_size", humanize.signed_size)
register.filter("duration", humanize.human_duration)
register.filter("when", humanize.when)
register.filter("ago", humanize.ago)
