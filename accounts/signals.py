"""The console language a user logs in with is the one their mail is written in (accounts.models.Preference)."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from accounts.models import remember_language


@receiver(user_logged_in, dispatch_uid="accounts.remember_language_at_log_in")
def remember_language_at_log_in(sender, request, user, **kwargs):
    # The console's log-in and the admin's: LocaleMiddleware chose the page's
    # language from the language cookie or Accept-Language. (A log-in without
    # a request through the middleware, such as a test's force_login, says nothing.)
    remember_language(user, getattr(request, "LANGUAGE_CODE", None))
