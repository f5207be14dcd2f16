"""`manage.py clear_expired`: delete what has expired and only takes space.

Expired log-in sessions (Django keeps them in the database until told) and
create-form tickets older than a day (models.TICKET_LIFETIME). Run it daily:
deploy/apikeys-cleanup.timer, or the cron line in docs/deployment.md. Only
deletes rows nobody can use any more, so running it on several hosts at once,
or twice, is harmless. Keys, audit events and users are never touched.
"""

from django.contrib.sessions.models import Session
from django.core.management.base import BaseCommand
from django.utils import timezone

from apikeys.models import CreationTicket


class Command(BaseCommand):
    help = "Deletes expired log-in sessions and create-form tickets older than a day."

    def handle(self, *args, **options):
        now = timezone.now()
        sessions, _ = Session.objects.filter(expire_date__lt=now).delete()
        tickets, _ = CreationTicket.objects.expired(now).delete()
        self.stdout.write(f"Deleted {sessions} expired sessions and {tickets} expired create-form tickets.")
