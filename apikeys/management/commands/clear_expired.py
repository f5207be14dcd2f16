"""`manage.py clear_expired`: delete what has expired and only takes space.

Expired log-in sessions (Django keeps them in the database until told) and
create-form tickets older than a day (models.TICKET_LIFETIME). Run it daily:
deploy/apikeys-cleanup.timer, or the cron line in docs/deployment.md. Only
deletes rows nobody can use any more, so running it on several hosts at once,
or twice, is harmless. Keys and users are never touched; it adds the
"retired" audit event of each rolled key whose grace period ended.
"""

from django.contrib.sessions.models import Session
from django.core.management.base import BaseCommand
from django.utils import timezone

from apikeys import services
from apikeys.models import CreationTicket


class Command(BaseCommand):
    help = "Deletes expired log-in sessions and create-form tickets older than a day."

    def handle(self, *args, **options):
        now = timezone.now()
        sessions, _ = Session.objects.filter(expire_date__lt=now).delete()
        tickets, _ = CreationTicket.objects.expired(now).delete()
        retired = services.record_retirements(now)
        self.stdout.write(
            f"Deleted {sessions} expired sessions and {tickets} expired create-form tickets; "
            f"recorded {retired} ended grace periods of rolled keys."
        )
