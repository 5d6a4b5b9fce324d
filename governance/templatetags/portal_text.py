"""Template filters for governance.text: ``{{ request.expires_at|time_left }}`` → "13 days"."""

from django import template
from django.utils import timezone

from governance.text import time_left_in_words

register = template.Library()


@register.filter
def time_left(value):
    return time_left_in_words(value, timezone.now()) if value else ""
