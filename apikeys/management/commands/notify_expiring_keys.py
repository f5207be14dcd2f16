"""`manage.py notify_expiring_keys`: mail key managers 7 days and 1 day before a key stops working.

Run it daily (deploy/apikeys-notify.timer, or the cron line in
docs/deployment.md). Each warning goes out at most once per key, threshold and
recipient, even when two hosts run it at once (apikeys.expiry). Exits with
status 1 if a warning could not be sent; the next run tries those again.
"""

from django.core.management.base import BaseCommand, CommandError

from apikeys import expiry


class Command(BaseCommand):
    help = "Mails each project's key managers about keys that stop working within 7 days, then within 1 day."

    def handle(self, *args, **options):
        try:
            report = expiry.notify_expiring_keys()
        except expiry.NotConfigured as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Sent {report.sent} expiry warnings; {report.already_sent} had been sent before.")
        if report.failed:
            raise CommandError(
                f"{len(report.failed)} expiry warnings could not be sent (the next run tries again): "
                + ", ".join(report.failed)
            )
