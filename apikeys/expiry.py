"""Expiry warnings: a project's key managers hear about a key before it stops working (SPEC §7).

`manage.py notify_expiring_keys` runs this once a day (deploy/apikeys-notify.timer
or the cron line in docs/deployment.md). For every key still working that
stops (expires, or retires after a roll) within the largest of settings.EXPIRY_WARNING_DAYS (7 days, then 1 day
before), each member of its project who may manage keys (the API Key Creation
Permission), is active and has an email address gets one mail per threshold:

- claimed first: the ExpiryNotice row is inserted in a transaction of its own,
  and its unique constraint lets exactly one of two runs at once have it (on
  PostgreSQL the second insert waits for the first to commit, then fails; on
  SQLite writers take turns);
- sent after that commit, in the recipient's language (accounts.Preference),
  with the key's name, its project, when it stops working and a link to its
  page under settings.CONSOLE_BASE_URL;
- given back if sending fails: the row is deleted, so the next run tries again.
  A run that dies between claiming and sending never sends that warning: at
  most once, not at least once.

A key that is inside the 1-day threshold when it is first seen gets only the
1-day warning.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core import mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from accounts.models import language_of
from apikeys.models import ApiKey, ExpiryNotice
from projects import catalog
from projects.models import Membership
from projects.templatetags.console import relative, when

logger = logging.getLogger(__name__)


class NotConfigured(Exception):
    """The mail would carry no working link: CONSOLE_BASE_URL is not set."""


@dataclass
class Report:
    sent: int = 0
    already_sent: int = 0
    failed: list[str] = field(default_factory=list)


def threshold_for(stops_at: datetime, now: datetime) -> int | None:
    """The smallest threshold (in days) the key is inside of, or None if it is further away."""
    inside = [days for days in settings.EXPIRY_WARNING_DAYS if stops_at <= now + timedelta(days=days)]
    return min(inside) if inside else None


def expiring_keys(now: datetime):
    """Keys that still work and stop within the largest threshold, soonest first."""
    horizon = now + timedelta(days=max(settings.EXPIRY_WARNING_DAYS))
    keys = ApiKey.objects.active(now).filter(Q(expires_at__lte=horizon) | Q(retires_at__lte=horizon))
    return sorted(keys.select_related("project", "successor"), key=lambda key: (key.stops_at, key.pk))


def key_managers(project_ids) -> dict[int, list]:
    """Per project: the active users with an email address whose role there holds the API Key Creation Permission."""
    memberships = (
        Membership.objects.filter(
            project_id__in=project_ids,
            role__permissions__codename=catalog.CREATE_API_KEYS,
            role__permissions__content_type__app_label="projects",
            user__is_active=True,
        )
        .exclude(user__email="")
        .select_related("user__preference")
        .order_by("user__username")
    )
    managers: dict[int, list] = {}
    for membership in memberships:
        managers.setdefault(membership.project_id, []).append(membership.user)
    return managers


def notify_expiring_keys(now: datetime | None = None) -> Report:
    if not settings.CONSOLE_BASE_URL:
        raise NotConfigured(
            "CONSOLE_BASE_URL is not set: the warnings would link to nowhere. "
            "Set it to the console's address, e.g. https://console.example.com."
        )
    now = now or timezone.now()
    keys = list(expiring_keys(now))
    managers = key_managers({key.project_id for key in keys})
    report = Report()
    if not keys:
        return report  # no mail server contacted
    with mail.get_connection() as connection:
        for key in keys:
            threshold = threshold_for(key.stops_at, now)
            for user in managers.get(key.project_id, []):
                notice = _claim(key, user, threshold, key.stops_at, now)
                if notice is None:
                    report.already_sent += 1
                    continue
                try:
                    if connection.send_messages([message(key, user, now)]) != 1:
                        raise OSError("the mail backend did not send it")
                except Exception as error:  # noqa: BLE001 - any failure of the mail system gives the claim back
                    notice.delete()
                    logger.error("expiry warning for key %s to user %s not sent: %s", key.public_id, user.pk, error)
                    report.failed.append(f"{key.public_id} to {user.get_username()}")
                else:
                    report.sent += 1
    return report


def _claim(key: ApiKey, user, threshold: int, stops_at: datetime, now: datetime) -> ExpiryNotice | None:
    try:
        with transaction.atomic():
            return ExpiryNotice.objects.create(
                api_key=key, recipient=user, threshold_days=threshold, stops_at=stops_at, sent_at=now
            )
    except IntegrityError:
        return None  # sent before, or being sent by another run right now


def message(key: ApiKey, user, now: datetime) -> mail.EmailMessage:
    """The warning, in the recipient's language."""
    with translation.override(language_of(user)):
        values = {
            "key": key.name,
            "project": key.project.name,
            "when": when(key.stops_at),
            "relative": relative(key.stops_at, now),
            "link": settings.CONSOLE_BASE_URL + reverse("apikeys:detail", args=[key.project.slug, key.public_id]),
            "user": user.get_username(),
        }
        if key.retires_at is not None:
            # Translators: the subject of the mail warning that a rolled key's grace period ends.
            # %(relative)s: "in 6 days".
            subject = gettext("The old secret of API key “%(key)s” in %(project)s stops working %(relative)s")
            subject %= values
            what = gettext(
                "the API key “%(key)s” of the project %(project)s was rolled: its old secret stops working on "
                "%(when)s (%(relative)s). From then on, every request made with it is refused with 401 Unauthorized."
            )
            todo = gettext("Make sure everything that uses it has switched to the new secret:")
        else:
            # Translators: the subject of the mail warning of a key's expiry. %(relative)s: "in 6 days".
            subject = gettext("API key “%(key)s” in %(project)s expires %(relative)s") % values
            what = gettext(
                "the API key “%(key)s” of the project %(project)s expires on %(when)s (%(relative)s). "
                "From then on, every request made with it is refused with 401 Unauthorized."
            )
            todo = gettext("To keep what uses it working, create a new key and replace this one in time:")
        body = "\n\n".join(
            [
                gettext("Hello %(user)s,") % values,
                what % values,
                todo + "\n" + values["link"],
                gettext(
                    "You receive this mail because you may manage API keys in %(project)s. "
                    "Key managers are told 7 days and 1 day before a key stops working."
                )
                % values,
            ]
        )
    # One line: a name cannot hold a line break (apikeys.text), but a header must never get one.
    return mail.EmailMessage(subject=" ".join(subject.split()), body=body + "\n", to=[user.email])
