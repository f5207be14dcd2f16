"""The one input schema of an API key: what the console, the admin and the API accept.

Every rule about the values themselves lives here once: the limits, the
characters a name may hold, tags, known permissions, the expiry's range, and
allowed addresses (apikeys.addresses).
Each check raises ApiKeyError naming its field, so a form shows it beside
the field and the API answers 400 with it. Whether the creator may grant
them (permissions held, lifetime policy, the parent key's expiry) is
authorization, in apikeys.services.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, gettext_lazy, ngettext

from apikeys import addresses, text
from apikeys.errors import ApiKeyError
from projects import catalog

NAME_MAX_LENGTH = 100
DESCRIPTION_MAX_LENGTH = 1000
MAX_TAGS = 10
MAX_TAG_LENGTH = 32
TAG_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/=")
# The raw tag text of a form ("ci, production"): room for MAX_TAGS tags and separators.
TAGS_TEXT_MAX_LENGTH = 400
MAX_EXPIRY_YEARS = 100
MAX_EXPIRY = timedelta(days=365 * MAX_EXPIRY_YEARS + MAX_EXPIRY_YEARS // 4)


@dataclass(frozen=True)
class KeyInput:
    """A key's values, valid and normalized."""

    name: str
    description: str
    tags: list[str]
    permissions: list[str]  # catalog order, so that equal sets always look the same
    expires_at: datetime | None  # UTC
    allowed_ips: list[str] = field(default_factory=list)  # apikeys.addresses' normal form; empty: anywhere


def parse(*, name, permissions, description="", tags=(), expires_at=None, allowed_ips=(), now: datetime) -> KeyInput:
    """The values as the rules accept them, or ApiKeyError for the first that breaks one."""
    return KeyInput(
        name=clean_name(name),
        description=clean_description(description),
        tags=clean_tags(tags),
        permissions=clean_permissions(permissions),
        expires_at=clean_expires_at(expires_at, now),
        allowed_ips=addresses.clean_allowed_ips(allowed_ips),
    )


def clean_tags(tags) -> list[str]:
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise ApiKeyError(gettext("Tags must be a list of short labels."), field="tags")
    cleaned: list[str] = []
    for tag in (t.strip() for t in tags):
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH or not set(tag) <= TAG_CHARACTERS:
            raise ApiKeyError(
                ngettext(
                    "Tag “%(tag)s” is not valid: use up to %(max)s letter, digit or - _ . : / =.",
                    "Tag “%(tag)s” is not valid: use up to %(max)s letters, digits or - _ . : / =.",
                    MAX_TAG_LENGTH,
                )
                % {"tag": tag[:40], "max": MAX_TAG_LENGTH},
                field="tags",
            )
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise ApiKeyError(
            ngettext("Use at most %(max)s tag.", "Use at most %(max)s tags.", MAX_TAGS) % {"max": MAX_TAGS},
            field="tags",
        )
    return cleaned


# Whole sentences per field, so that each language can build its own.
_TEXT_ERRORS = {
    "name": (
        gettext_lazy("The name must be text."),
        gettext_lazy("The name contains an invisible or control character (U+%(code)04X), which is not allowed."),
    ),
    "description": (
        gettext_lazy("The description must be text."),
        gettext_lazy(
            "The description contains an invisible or control character (U+%(code)04X), which is not allowed."
        ),
    ),
}


def _normalize(value, field: str, allowed: str) -> str:
    if not isinstance(value, str):
        raise ApiKeyError(str(_TEXT_ERRORS[field][0]), field=field)
    # NFKC folds look-alike compatibility forms (full-width letters, ligatures,
    # no-break and other wide spaces) into their plain form. Checked before
    # too, so that the error names the character as it was typed.
    normalized = text.normalize(value)
    for candidate in (value, normalized):
        if char := text.refused_character(candidate, allowed + (text.UNICODE_SPACES if candidate is value else "")):
            raise ApiKeyError(str(_TEXT_ERRORS[field][1]) % {"code": ord(char)}, field=field)
    return normalized


def clean_name(name) -> str:
    """A key's name as stored and compared: NFKC, single spaces, nothing invisible.

    Names are what people read before they revoke, so two active keys must
    never look alike: a zero-width space or a doubled space (which HTML shows
    as one) would make a second "name".
    """
    name = _normalize(name or "", "name", allowed=" ")
    name = " ".join(part for part in name.split(" ") if part)
    if not name:
        raise ApiKeyError(gettext("A name is required."), field="name")
    if text.starts_with_a_mark(name):
        raise ApiKeyError(gettext("The name cannot start with a combining mark."), field="name")
    if alphabets := text.look_alike_alphabets(name):
        raise ApiKeyError(
            gettext(
                "The name mixes letters of alphabets that look alike (%(alphabets)s), so it could pass for "
                "another name. Use letters of one alphabet."
            )
            % {"alphabets": ", ".join(alphabets)},
            field="name",
        )
    if len(name) > NAME_MAX_LENGTH:
        raise ApiKeyError(
            ngettext(
                "The name can be at most %(max)s character.",
                "The name can be at most %(max)s characters.",
                NAME_MAX_LENGTH,
            )
            % {"max": NAME_MAX_LENGTH},
            field="name",
        )
    return name


def clean_description(description) -> str:
    """Like a name, but line breaks and tabs may stay."""
    description = _normalize(description or "", "description", allowed=" \r\n\t")
    description = description.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise ApiKeyError(
            ngettext(
                "The description can be at most %(max)s character.",
                "The description can be at most %(max)s characters.",
                DESCRIPTION_MAX_LENGTH,
            )
            % {"max": DESCRIPTION_MAX_LENGTH},
            field="description",
        )
    return description


def clean_permissions(permissions) -> list[str]:
    if not isinstance(permissions, (list, tuple, set, frozenset)) or not all(isinstance(p, str) for p in permissions):
        raise ApiKeyError(gettext("Permissions must be a list of codenames."), field="permissions")
    requested = set(permissions)
    if not requested:
        raise ApiKeyError(gettext("Choose at least one permission."), field="permissions")
    if unknown := requested - catalog.CODENAMES:
        raise ApiKeyError(
            gettext("Unknown permission: %(codes)s.") % {"codes": ", ".join(sorted(unknown))[:300]},
            field="permissions",
        )
    return [p.codename for p in catalog.CATALOG if p.codename in requested]


def expiry_from_text(raw: str) -> datetime:
    """An ISO 8601 date-time with its time zone (the API's `expires_at`)."""
    try:
        parsed = parse_datetime(raw)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ApiKeyError("'expires_at' must be an ISO 8601 date-time or null.", field="expires_at")
    if parsed.tzinfo is None:
        raise ApiKeyError("'expires_at' needs a time zone, for example 2030-01-31T00:00:00Z.", field="expires_at")
    return parsed


def too_far_message() -> str:
    """What is said of an expiry beyond MAX_EXPIRY (here, and by the console's date picker)."""
    return ngettext(
        "The expiration date can be at most %(years)s year from now.",
        "The expiration date can be at most %(years)s years from now.",
        MAX_EXPIRY_YEARS,
    ) % {"years": MAX_EXPIRY_YEARS}


def clean_expires_at(expires_at: datetime | None, now: datetime) -> datetime | None:
    """The expiry in UTC: aware, in the future, at most MAX_EXPIRY_YEARS away (None: no expiry)."""
    if expires_at is None:
        return None
    if timezone.is_naive(expires_at):
        raise ApiKeyError(gettext("The expiration date needs a time zone."), field="expires_at")
    try:
        # Compared, stored and shown from UTC; an offset can push a date at
        # the end of the calendar past what a datetime holds.
        expires_at = expires_at.astimezone(UTC)
    except OverflowError:
        expires_at = datetime.max.replace(tzinfo=UTC)
    if expires_at > now + MAX_EXPIRY:
        # Beyond this, dates stop rendering in some time zones (year 9999 in
        # UTC+14 is year 10000) and lifetimes stop being arithmetic.
        raise ApiKeyError(too_far_message(), field="expires_at")
    if expires_at <= now:
        raise ApiKeyError(gettext("The expiration date must be in the future."), field="expires_at")
    return expires_at
