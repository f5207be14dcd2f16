"""The console's one date style, and relative times that read like speech.

Every page shows an instant as `when` ("Tue, 24 Feb 2027, 23:59 UTC", in the
active language and the site's time zone) and, where it helps, `relative`
beside it ("just now", "3 hours ago", "in 6 days").
"""

from datetime import datetime, timedelta
from functools import lru_cache

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import get_language, gettext, npgettext_lazy, pgettext

from projects import catalog

register = template.Library()

JUST_NOW = timedelta(minutes=1)

# Durations inside "%(time)s ago" and "in %(time)s": their own strings, since
# some languages inflect them there (German: "vor 3 Tagen", "in 2 Monaten").
DURATIONS = {
    "year": npgettext_lazy("relative time", "%(num)d year", "%(num)d years", "num"),
    "month": npgettext_lazy("relative time", "%(num)d month", "%(num)d months", "num"),
    "week": npgettext_lazy("relative time", "%(num)d week", "%(num)d weeks", "num"),
    "day": npgettext_lazy("relative time", "%(num)d day", "%(num)d days", "num"),
    "hour": npgettext_lazy("relative time", "%(num)d hour", "%(num)d hours", "num"),
    "minute": npgettext_lazy("relative time", "%(num)d minute", "%(num)d minutes", "num"),
}


def when_format() -> str:
    # Translators: a date format of Django's `date` filter
    # (https://docs.djangoproject.com/en/5.2/ref/templates/builtins/#date).
    # D: weekday, j: day, M: month, Y: year, H:i: time, T: time zone.
    return pgettext("date format", "D, j M Y, H:i T")


@register.filter
def when(value: datetime | None) -> str:
    """An instant in the console's one absolute style."""
    if value is None:
        return ""
    return date_format(timezone.localtime(value), when_format())


@register.filter
def relative(value: datetime | None, now: datetime | None = None) -> str:
    """An instant relative to now, to the largest unit: "just now", "3 hours ago", "in 6 days"."""
    if value is None:
        return ""
    now = now or timezone.now()
    if abs(value - now) < JUST_NOW:
        return gettext("just now")
    if value < now:
        return gettext("%(time)s ago") % {"time": timesince(value, now, time_strings=DURATIONS, depth=1)}
    return gettext("in %(time)s") % {"time": timeuntil(value, now, time_strings=DURATIONS, depth=1)}


@register.simple_tag
def permission_labels(codenames) -> SafeString:
    """A key's permissions as one line: "8 permissions · 2 dangerous: Clusters: create, view, …".

    Each resource's actions share a label (catalog.compact); a dangerous one
    is flagged and says why on hover. The key table shows this for every key
    on the page, and keys share their permission sets far more often than
    not, so each set is rendered once per language (the catalog never changes
    while the process runs).
    """
    return _permission_labels(frozenset(codenames), get_language())


@lru_cache(maxsize=1024)
def _permission_labels(codenames: frozenset[str], language: str) -> SafeString:
    labels = format_html_join(
        ", ",
        '<span class="perm{}"{}>{}</span>',
        (
            (" perm-danger", format_html(' title="{}"', label.danger), label.text)
            if label.danger
            else ("", "", label.text)
            for label in catalog.compact(codenames)
        ),
    )
    return format_html('<strong class="perm-summary">{}:</strong> {}', catalog.summary(codenames), labels)


@register.filter
def with_name(pattern: str, name: str) -> str:
    """A translated phrase with a %(name)s placeholder, filled in: "Revoke “%(name)s”"|with_name:"ci".

    The key table translates each such phrase once per page (apikeys.views.key_row_words)
    and fills in every row's key name here. The result is plain text: the template
    escapes it, the name and the translation alike.
    """
    return str(pattern) % {"name": name}
