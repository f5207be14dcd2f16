from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Preference(models.Model):
    """What the console remembers about a user beyond Django's User: the language they last used.

    Mail sent without a request (expiry warnings) is written in it. Recorded
    at log-in (the language the console was showing) and whenever the user
    switches language; a user who never logged in since has none, and gets
    English.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="preference",
    )
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("preference")
        verbose_name_plural = _("preferences")

    def __str__(self) -> str:
        return f"{self.user}: {self.language}"


def remember_language(user, language: str | None) -> None:
    """Record the user's console language, if it is one the console speaks."""
    codes = {code for code, _name in settings.LANGUAGES}
    if not getattr(user, "is_authenticated", False) or language not in codes:
        return
    Preference.objects.update_or_create(user=user, defaults={"language": language, "updated_at": timezone.now()})


def language_of(user) -> str:
    """The language to write to this user in: the one they last used in the console, else the default."""
    try:
        return user.preference.language
    except Preference.DoesNotExist:
        return settings.LANGUAGE_CODE
