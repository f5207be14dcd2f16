import secrets
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apikeys import schema, tokens
from projects import catalog
from projects.models import Project

EXPIRES_SOON = timedelta(days=7)


class ImmutableKeyError(Exception):
    """Someone tried to change what a key is after its creation."""


# Everything that makes a key what it is. Written once, at creation; the model
# layer refuses any later change (revocation has its own one-way path).
IMMUTABLE_FIELDS = frozenset(
    {
        "public_id",
        "secret_hash",
        "pepper_version",
        "last4",
        "project",
        "project_id",
        "name",
        "description",
        "tags",
        "permissions",
        "expires_at",
        "allowed_ips",
        "created_at",
        "created_by",
        "created_by_id",
        "created_by_key",
        "created_by_key_id",
    }
)
REVOCATION_FIELDS = frozenset({"revoked_at", "revoked_by", "revoked_by_id", "revoked_by_key", "revoked_by_key_id"})
# Written by rolling only (services.api_key_roll): when the old key retires,
# its successor, and the key whose revocation revokes this one.
ROLL_FIELDS = frozenset({"retires_at", "successor", "successor_id", "parent", "parent_id"})


class Status(models.TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRES_SOON = "expires_soon", _("Expires soon")
    # Rolled: still working until its grace period ends (retires_at).
    RETIRING = "retiring", _("Retiring")
    EXPIRED = "expired", _("Expired")
    # Rolled, and its grace period is over.
    RETIRED = "retired", _("Retired")
    REVOKED = "revoked", _("Revoked")


# The lifetime rule, once in SQL (here) and once in Python (ApiKey.status):
# a key stops working at its expires_at, or at its retires_at once rolled,
# whichever comes first (a grace period never outlasts the expiry); revoked
# keys are revoked, whatever their times.
def _expired(now) -> Q:
    return Q(expires_at__isnull=False, expires_at__lte=now)


def _retired(now) -> Q:
    return Q(retires_at__isnull=False, retires_at__lte=now)


def _stopped(now) -> Q:
    return _expired(now) | _retired(now)


def _from_unix(stamp: int | None) -> datetime | None:
    """A usage time as stored (Unix seconds, apikeys.usage) as an aware datetime."""
    return datetime.fromtimestamp(stamp, UTC) if stamp else None


class StatusCounts(NamedTuple):
    active: int  # still working, expiring ones included
    inactive: int  # revoked, expired or retired
    expiring_soon: int  # still working, and stop within EXPIRES_SOON


class ApiKeyQuerySet(models.QuerySet):
    def active(self, now=None):
        """Keys that still work: retiring ones included."""
        return self.filter(revoked_at__isnull=True).exclude(_stopped(now or timezone.now()))

    def inactive(self, now=None):
        """Revoked, expired or retired: what the key list hides by default."""
        return self.filter(Q(revoked_at__isnull=False) | _stopped(now or timezone.now()))

    def status_counts(self, project: Project, now) -> "StatusCounts":
        """How many of the project's keys work, are revoked, expired or retired, or stop within 7 days.

        The key list needs all three on every page: one query. One aggregate
        over the project's keys tested every key's three times (3 ms at
        10,000 keys on SQLite). Instead, each count is a scalar subquery over
        a range of an index that holds only the keys it counts, so only the
        total grows with the project (0.3 ms at 10,000 keys): revoked,
        expired and "expire within 7 days" are ranges of
        api_key_project_status; retired keys are the few in
        api_key_project_retiring (rolled keys). The three stopped sets do not
        overlap: a revoked key counts as revoked only, an expired one as
        expired even if it was also rolled. The subqueries hang off the
        project's own row (by primary key), never off a scan of keys.
        """
        working = Q(revoked_at__isnull=True)
        unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        keys = self.filter(project=project)
        total, *stopped, expiring = (
            Project.objects.filter(pk=project.pk)
            .annotate(
                total=keys._count(),
                revoked=keys._count(revoked_at__isnull=False),
                expired=keys._count(working, expires_at__lte=now),
                retired=keys._count(working, unexpired, retires_at__lte=now),
                expiring=keys._count(
                    working, retires_at__isnull=True, expires_at__gt=now, expires_at__lte=now + EXPIRES_SOON
                ),
            )
            .values_list("total", "revoked", "expired", "retired", "expiring")
            .get()
        )
        return StatusCounts(total - sum(stopped), sum(stopped), expiring)

    def _count(self, *conditions, **lookups) -> models.Subquery:
        """`SELECT COUNT(project_id) … WHERE …` over these keys, as a scalar subquery (no GROUP BY).

        COUNT over project_id, never null and first in every index, lets
        PostgreSQL answer from the index alone (counting id read every row:
        5.7 ms against 1.7 ms at 10,000 keys).
        """
        return models.Subquery(
            self.filter(*conditions, **lookups)
            .order_by()
            .annotate(n=models.Func(models.F("project"), function="COUNT"))
            .values("n")
        )

    def with_status(self, status: str, now=None):
        now = now or timezone.now()
        if status == Status.ACTIVE:
            return self.active(now)
        if status == Status.EXPIRES_SOON:
            return self.active(now).filter(retires_at__isnull=True, expires_at__lte=now + EXPIRES_SOON)
        if status == Status.RETIRING:
            return self.active(now).filter(retires_at__isnull=False)
        if status == Status.EXPIRED:
            # A key retired before its expiry is "retired", whatever came later.
            return self.filter(_expired(now), revoked_at__isnull=True, retires_at__isnull=True)
        if status == Status.RETIRED:
            return self.filter(_retired(now), revoked_at__isnull=True)
        if status == Status.REVOKED:
            return self.filter(revoked_at__isnull=False)
        return self

    def search(self, text: str):
        text = text.strip()
        if not text:
            return self
        matches = Q(name__icontains=text)
        # Tags are matched in their stored JSON text, so only text a tag can
        # hold may reach it: `[` or `"` would match every key.
        if set(text) <= schema.TAG_CHARACTERS:
            matches |= Q(tags__icontains=text)
        return self.filter(matches)

    def update(self, **kwargs):
        """Bulk updates may touch bookkeeping fields only.

        Revocation is one-way: a revoked key cannot be un-revoked.
        """
        if forbidden := IMMUTABLE_FIELDS.intersection(kwargs):
            raise ImmutableKeyError(f"API key fields cannot be changed: {', '.join(sorted(forbidden))}")
        if "revoked_at" in kwargs and kwargs["revoked_at"] is None:
            raise ImmutableKeyError("A revoked API key cannot be re-activated.")
        if any(field in kwargs and kwargs[field] is None for field in ("retires_at", "successor", "successor_id")):
            raise ImmutableKeyError("A rolled API key cannot be un-rolled.")
        return super().update(**kwargs)

    update.queryset_only = True


class ApiKey(models.Model):
    public_id = models.CharField(_("public id"), max_length=tokens.PUBLIC_ID_LENGTH, unique=True, editable=False)
    secret_hash = models.CharField(_("secret hash"), max_length=64, editable=False)
    pepper_version = models.CharField(_("pepper version"), max_length=32, editable=False)
    last4 = models.CharField(_("last four characters"), max_length=4, editable=False)

    project = models.ForeignKey(Project, verbose_name=_("project"), on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(_("name"), max_length=schema.NAME_MAX_LENGTH)
    description = models.TextField(_("description"), blank=True, max_length=schema.DESCRIPTION_MAX_LENGTH)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    # Codenames of the catalog, fixed at creation. Kept on the row so that
    # authenticating a key is one query.
    permissions = models.JSONField(_("permissions"), default=list)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_by_key = models.ForeignKey(
        "self", verbose_name=_("created by key"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Where the key may be used from (apikeys.addresses), fixed at creation
    # like its permissions; empty: from anywhere.
    allowed_ips = models.JSONField(_("allowed addresses"), default=list, blank=True)
    # Usage (apikeys.usage), written at most once a minute: by the key, and
    # by each permission it was asked for.
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(_("last used from"), null=True, blank=True)
    last_used_user_agent = models.CharField(_("last user agent"), max_length=256, blank=True, default="")
    # Codename -> when (Unix time, seconds) a permission the key holds was
    # last needed, by an API endpoint or a `whoami?permission=` check; and
    # when one it lacks was last asked for and refused.
    permissions_used = models.JSONField(_("permissions last needed"), default=dict, blank=True)
    permissions_refused = models.JSONField(_("permissions last refused"), default=dict, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    revoked_by_key = models.ForeignKey(
        "self", verbose_name=_("revoked by key"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Rolling (services.api_key_roll): when this key stops working (the end of
    # the grace period the roller chose) and the key that replaced it.
    retires_at = models.DateTimeField(_("retires at"), null=True, blank=True)
    successor = models.OneToOneField(
        "self",
        verbose_name=_("successor"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="predecessor",
    )
    # The key whose revocation revokes this one: the key that created it, or
    # that key's successor once it was rolled. created_by_key keeps who did.
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at", "-id"], name="api_key_project_listing"),
            # Name uniqueness among active keys is checked under a project lock
            # (services.api_key_create): "active" depends on the clock.
            models.Index(fields=["project", "name"], name="api_key_project_name"),
            # Counts by status (the key list's "N keys · M hidden") read ranges
            # of these two indexes, not every row: ApiKeyQuerySet.status_counts.
            models.Index(fields=["project", "revoked_at", "expires_at", "retires_at"], name="api_key_project_status"),
            models.Index(
                fields=["project", "retires_at", "revoked_at", "expires_at"],
                condition=Q(retires_at__isnull=False),
                name="api_key_project_retiring",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"

    def save(self, *args, **kwargs):
        """Refuse to change an existing key except through revocation or bookkeeping.

        This is the model-layer guarantee that a key's permissions (and every
        other security field) are fixed at creation: the admin, forms and the
        API all end up here.
        """
        if not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is None:
                raise ImmutableKeyError("Existing API keys can only be saved with explicit update_fields.")
            if forbidden := IMMUTABLE_FIELDS.intersection(update_fields):
                raise ImmutableKeyError(f"API key fields cannot be changed: {', '.join(sorted(forbidden))}")
            if REVOCATION_FIELDS.intersection(update_fields):
                raise ImmutableKeyError("Revoke API keys with apikeys.services.api_key_revoke().")
            if ROLL_FIELDS.intersection(update_fields):
                raise ImmutableKeyError("Roll API keys with apikeys.services.api_key_roll().")
        super().save(*args, **kwargs)

    # -- derived -------------------------------------------------------------
    @property
    def masked(self) -> str:
        return tokens.mask(self.last4)

    def is_expired(self, now) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def is_retired(self, now) -> bool:
        return self.retires_at is not None and self.retires_at <= now

    @property
    def stops_at(self):
        """When the key stops working by itself: its retirement once rolled (never after its expiry), or its expiry."""
        return self.retires_at or self.expires_at

    @property
    def rolled_from(self) -> "ApiKey | None":
        """The key this one replaced by a roll, or None (select_related "predecessor" first: no query then)."""
        try:
            return self.predecessor
        except ApiKey.predecessor.RelatedObjectDoesNotExist:
            return None

    def grace_use(self, now=None) -> str | None:
        """While a rolled key retires: whether its old secret was used after the roll ("used"/"unused").

        Asked of the old key or of its successor (select_related "successor"
        and "predecessor" first: no query then); None when no grace is running.
        """
        now = now or timezone.now()
        old = self if self.successor_id is not None else self.rolled_from
        if old is None or old.retires_at is None or old.retires_at <= now or old.revoked_at is not None:
            return None
        # The successor was created by the roll: its creation is the roll's moment.
        rolled_at = self.created_at if old is not self else self.successor.created_at
        return "used" if old.last_used_at is not None and old.last_used_at > rolled_at else "unused"

    def status(self, now=None) -> Status:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return Status.REVOKED
        if self.is_retired(now):
            return Status.RETIRED
        if self.is_expired(now):
            return Status.EXPIRED
        if self.retires_at is not None:
            return Status.RETIRING
        if self.expires_at is not None and self.expires_at <= now + EXPIRES_SOON:
            return Status.EXPIRES_SOON
        return Status.ACTIVE

    @property
    def current_status(self) -> Status:
        return self.status()

    def refusal(self, now) -> str | None:
        """Why authentication refuses this key whose secret was proved, or None."""
        status = self.status(now)
        if status == Status.REVOKED:
            return "revoked"
        if status == Status.RETIRED:  # rolled, and the grace period is over: refused like a revoked key
            return "retired"
        if status == Status.EXPIRED:
            return "expired"
        return None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def permission_groups(self):
        return catalog.grouped(self.permissions)

    def last_needed(self) -> dict[str, datetime | None]:
        """The key's permissions, in order, with when it was last needed (None: never checked through us)."""
        return {code: _from_unix(self.permissions_used.get(code)) for code in self.permissions}

    def permission_usage(self) -> list[tuple[str, list[tuple[catalog.CatalogPermission, datetime | None]]]]:
        """`last_needed` by group, with each permission's catalog entry, for the key's page."""
        needed = self.last_needed()
        return [
            (group, [(entry, needed[entry.codename]) for entry in entries])
            for group, entries in self.permission_groups()
        ]

    def never_checked(self) -> list[str]:
        """The key's permissions no call ever asked us for: unused, or used by a service that does not ask."""
        return [code for code, needed in self.last_needed().items() if needed is None]

    def refused_permissions(self) -> list[tuple[str, datetime]]:
        """Permissions the key lacks and was asked for, with when last refused, the latest first."""
        found = [(code, _from_unix(stamp)) for code, stamp in self.permissions_refused.items()]
        return sorted(found, key=lambda item: item[1], reverse=True)

    def needed_since(self, since: datetime) -> list[str]:
        """The key's permissions needed at or after `since`, in catalog order."""
        cutoff = since.timestamp()
        return [code for code in self.permissions if self.permissions_used.get(code, 0) >= cutoff]

    @property
    def permission_summary(self) -> str:
        return catalog.summary(self.permissions)

    def compact_permissions(self):
        return catalog.compact(self.permissions)

    def unrevoked_descendants(self) -> list["ApiKey"]:
        """The keys this key created over the API, every generation, not yet
        revoked: what revoking it revokes too (services.api_key_revoke), in
        generation order."""
        found, parents = [], [self.pk]
        while parents:
            children = list(ApiKey.objects.filter(parent_id__in=parents, revoked_at__isnull=True))
            found += children
            parents = [child.pk for child in children]
        return found


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        CREATED = "api_key.created", _("API key created")
        REVOKED = "api_key.revoked", _("API key revoked")
        # On both keys: the one rolled and its successor.
        ROLLED = "api_key.rolled", _("API key rolled")
        # The rolled key's grace period ended (recorded by manage.py clear_expired).
        RETIRED = "api_key.retired", _("API key retired")
        # "Move to a service account": a service account was made from the key, which keeps working.
        MOVED = "api_key.moved", _("Moved to a service account")

    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    project = models.ForeignKey(Project, verbose_name=_("project"), on_delete=models.PROTECT, related_name="+")
    api_key = models.ForeignKey(
        ApiKey, verbose_name=_("API key"), on_delete=models.PROTECT, related_name="audit_events"
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_key = models.ForeignKey(
        ApiKey, verbose_name=_("actor key"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A username survives the user's deletion; the row is the audit trail.
    # Stored in English for a key (services._audit); `actor` says it in the
    # reader's language.
    actor_label = models.CharField(_("actor label"), max_length=200)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            # A key retires once: two hosts recording ended grace periods at once write one event.
            models.UniqueConstraint(
                fields=["api_key"], condition=Q(action="api_key.retired"), name="one_retired_event_per_key"
            )
        ]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return gettext("%(action)s: %(key)s by %(actor)s") % {
            "action": self.get_action_display(),
            "key": self.api_key.name,
            "actor": self.actor,
        }

    @property
    def actor(self) -> str:
        """Who acted, in the active language: the recorded username, the acting key, or the clock."""
        if self.actor_key_id is None and not self.actor_label:
            return gettext("the end of the grace period")  # a retirement nobody did (services.record_retirements)
        if self.actor_key_id is None:
            return self.actor_label
        return actor_key_label(self.actor_key)


def actor_key_label(key: ApiKey) -> str:
    """How the audit trail names a key that acted (stored in English as AuditEvent.actor_label)."""
    return gettext("API key %(name)s (%(public_id)s)") % {"name": key.name, "public_id": key.public_id}


# Unused create-form tickets are worthless after a day: deleted when their user
# opens the form again, and by `manage.py clear_expired` for everybody.
TICKET_LIFETIME = timedelta(days=1)


class CreationTicketQuerySet(models.QuerySet):
    def expired(self, now):
        return self.filter(created_at__lt=now - TICKET_LIFETIME)

    def issue(self, *, user) -> str:
        """A one-time token for one rendering of the create form."""
        now = timezone.now()
        self.filter(user=user).expired(now).delete()  # keep the table small
        token = secrets.token_urlsafe(32)
        self.create(token=token, user=user, created_at=now)
        return token

    def consume(self, token: str, *, user, now) -> bool:
        """Use the ticket; False if it is not this user's or was used already.

        A conditional UPDATE takes the row lock: of several parallel posts of
        one form, exactly one sees used_at still empty.
        """
        return bool(self.filter(token=token, user=user, used_at__isnull=True).update(used_at=now))


class CreationTicket(models.Model):
    """A one-time token embedded in the create form.

    Consumed in the same transaction that inserts the key, so a reload, a
    double click or parallel posts of the same form create one key at most.
    """

    token = models.CharField(_("token"), max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    objects = CreationTicketQuerySet.as_manager()

    class Meta:
        verbose_name = _("creation ticket")
        verbose_name_plural = _("creation tickets")

    def __str__(self) -> str:
        # Never the token: it would let whoever reads it submit the form.
        if self.used_at:
            return gettext("Create-form ticket of %(user)s (used)") % {"user": self.user}
        return gettext("Create-form ticket of %(user)s (unused)") % {"user": self.user}


class ExpiryNotice(models.Model):
    """One expiry warning: this key, this threshold, this recipient (manage.py notify_expiring_keys).

    The unique constraint is how a warning is sent at most once, even when two
    hosts run the command at the same moment: a run claims a warning by
    inserting its row (the second insert waits for the first to commit, then
    fails) and sends it after the commit. A send that fails deletes its row,
    so the next run tries again.
    """

    api_key = models.ForeignKey(
        ApiKey, verbose_name=_("API key"), on_delete=models.CASCADE, related_name="expiry_notices"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recipient"), on_delete=models.CASCADE, related_name="+"
    )
    # Days before the key stops working: one of settings.EXPIRY_WARNING_DAYS.
    threshold_days = models.PositiveSmallIntegerField(_("days before"))
    stops_at = models.DateTimeField(_("stops working at"))
    sent_at = models.DateTimeField(_("sent at"), default=timezone.now)

    class Meta:
        verbose_name = _("expiry notice")
        verbose_name_plural = _("expiry notices")
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "threshold_days", "recipient"], name="one_expiry_notice_per_key_threshold_recipient"
            )
        ]

    def __str__(self) -> str:
        return gettext("Expiry notice for %(key)s to %(user)s") % {"key": self.api_key.name, "user": self.recipient}
