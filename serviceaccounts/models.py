"""Service accounts (SPEC §8): identities owned by an organization, with project memberships and credentials.

A service account's permissions live on its project memberships and can be
changed without changing the identity; its credentials (several at once, for
rotation) have the API keys' format under their own prefix and authenticate
through the same path (apikeys.authentication). What may change what is
serviceaccounts.services'.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from apikeys import schema, tokens
from apikeys.models import EXPIRES_SOON, ImmutableKeyError, Status
from projects import catalog
from projects.models import Organization, OrganizationRole, Project


class ServiceAccountQuerySet(models.QuerySet):
    def undeleted(self):
        return self.filter(deleted_at__isnull=True)

    def update(self, **kwargs):
        """Deletion is final: no bulk update brings a deleted service account back."""
        if "deleted_at" in kwargs and kwargs["deleted_at"] is None:
            raise ImmutableKeyError("A deleted service account cannot be restored.")
        return super().update(**kwargs)

    update.queryset_only = True


class ServiceAccount(models.Model):
    public_id = models.CharField(
        _("public id"), max_length=tokens.PUBLIC_ID_LENGTH, unique=True, editable=False, default=tokens.new_public_id
    )
    organization = models.ForeignKey(
        Organization, verbose_name=_("organization"), on_delete=models.PROTECT, related_name="service_accounts"
    )
    name = models.CharField(_("name"), max_length=schema.NAME_MAX_LENGTH)
    description = models.TextField(_("description"), blank=True, max_length=schema.DESCRIPTION_MAX_LENGTH)
    # An organization role of the account itself: Admin lets its credentials
    # manage the organization's service accounts (automation such as a
    # Terraform provider). Only an Owner gives it; never Owner itself.
    organization_role = models.ForeignKey(
        OrganizationRole,
        verbose_name=_("organization role"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_by_credential = models.ForeignKey(
        "Credential",
        verbose_name=_("created by credential"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    # Deletion is soft and final, like revocation: the row stays for the audit trail.
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)
    # The API key this account was made from ("Move to a service account"):
    # both entries link to each other; the key keeps working until revoked.
    moved_from_key = models.ForeignKey(
        "apikeys.ApiKey",
        verbose_name=_("moved from API key"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="moved_to",
        editable=False,
    )

    objects = ServiceAccountQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("service account")
        verbose_name_plural = _("service accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                condition=Q(deleted_at__isnull=True),
                name="one_undeleted_service_account_name_per_organization",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        """Deletion is final: a deleted service account is never saved back to life."""
        update_fields = kwargs.get("update_fields")
        restoring = (
            not self._state.adding
            and self.deleted_at is None
            and (update_fields is None or "deleted_at" in update_fields)
        )
        if restoring and ServiceAccount.objects.filter(pk=self.pk, deleted_at__isnull=False).exists():
            raise ImmutableKeyError("A deleted service account cannot be restored.")
        super().save(*args, **kwargs)

    # What Django's permission checks ask of a user (projects.backends answers for both).
    @property
    def is_active(self) -> bool:
        return self.disabled_at is None and self.deleted_at is None

    is_anonymous = False
    is_superuser = False
    is_service_account = True

    def has_perm(self, perm: str, obj=None) -> bool:
        """`has_perm("projects.<codename>", project)`, answered by the same backend as for users."""
        from projects.backends import ProjectPermissionBackend

        return ProjectPermissionBackend().has_perm(self, perm, obj)

    @property
    def is_org_admin(self) -> bool:
        return self.organization_role_id is not None and self.organization_role.manages_service_accounts

    @property
    def state(self) -> str:
        if self.deleted_at is not None:
            return "deleted"
        return "disabled" if self.disabled_at is not None else "active"

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS[self.state])


STATE_LABELS = {"active": _("Active"), "disabled": _("Disabled"), "deleted": _("Deleted")}


class ServiceAccountMembership(models.Model):
    """A service account's membership of a project, with the project permissions it holds there."""

    service_account = models.ForeignKey(
        ServiceAccount, verbose_name=_("service account"), on_delete=models.CASCADE, related_name="memberships"
    )
    project = models.ForeignKey(
        Project, verbose_name=_("project"), on_delete=models.CASCADE, related_name="service_account_memberships"
    )
    # Codenames of the catalog, in catalog order; changed only by serviceaccounts.services.
    permissions = models.JSONField(_("permissions"), default=list)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    # Usage (apikeys.usage), as on a key: codename -> Unix time last needed / refused.
    permissions_used = models.JSONField(_("permissions last needed"), default=dict, blank=True)
    permissions_refused = models.JSONField(_("permissions last refused"), default=dict, blank=True)

    class Meta:
        ordering = ["project__name"]
        verbose_name = _("service account membership")
        verbose_name_plural = _("service account memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["service_account", "project"], name="one_membership_per_account_and_project"
            )
        ]

    def __str__(self) -> str:
        return gettext("%(account)s in %(project)s") % {"account": self.service_account, "project": self.project}

    def permission_groups(self):
        return catalog.grouped(self.permissions)


class CredentialQuerySet(models.QuerySet):
    def active(self, now=None):
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)

    def update(self, **kwargs):
        """Bulk updates may touch usage and revocation only; revocation is one-way."""
        if forbidden := CREDENTIAL_IMMUTABLE_FIELDS.intersection(kwargs):
            raise ImmutableKeyError(f"Credential fields cannot be changed: {', '.join(sorted(forbidden))}")
        if "revoked_at" in kwargs and kwargs["revoked_at"] is None:
            raise ImmutableKeyError("A revoked credential cannot be re-activated.")
        return super().update(**kwargs)

    update.queryset_only = True


# Fixed at creation, like a key's; revocation has its own one-way path.
CREDENTIAL_IMMUTABLE_FIELDS = frozenset(
    {
        "public_id",
        "secret_hash",
        "pepper_version",
        "last4",
        "service_account",
        "service_account_id",
        "name",
        "expires_at",
        "allowed_ips",
        "created_at",
        "created_by",
        "created_by_id",
        "created_by_credential",
        "created_by_credential_id",
    }
)


class Credential(models.Model):
    """A secret of a service account: the API keys' format under SERVICE_ACCOUNT_KEY_PREFIX."""

    public_id = models.CharField(_("public id"), max_length=tokens.PUBLIC_ID_LENGTH, unique=True, editable=False)
    secret_hash = models.CharField(_("secret hash"), max_length=64, editable=False)
    pepper_version = models.CharField(_("pepper version"), max_length=32, editable=False)
    last4 = models.CharField(_("last four characters"), max_length=4, editable=False)
    service_account = models.ForeignKey(
        ServiceAccount, verbose_name=_("service account"), on_delete=models.PROTECT, related_name="credentials"
    )
    name = models.CharField(_("name"), max_length=schema.NAME_MAX_LENGTH)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    allowed_ips = models.JSONField(_("allowed addresses"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_by_credential = models.ForeignKey(
        "self",
        verbose_name=_("created by credential"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The operator's system user, for a credential made by manage.py create_service_account_credential.
    created_by_label = models.CharField(_("created by (label)"), max_length=200, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(_("last used from"), null=True, blank=True)
    last_used_user_agent = models.CharField(_("last user agent"), max_length=256, blank=True, default="")
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    revoked_by_credential = models.ForeignKey(
        "self",
        verbose_name=_("revoked by credential"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    objects = CredentialQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("credential")
        verbose_name_plural = _("credentials")

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"

    def save(self, *args, **kwargs):
        """Refuse to change what a credential is after its creation (as ApiKey.save does for keys)."""
        if not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is None or CREDENTIAL_IMMUTABLE_FIELDS.intersection(update_fields):
                raise ImmutableKeyError("Credentials cannot be changed after their creation.")
            if {"revoked_at", "revoked_by", "revoked_by_credential"}.intersection(update_fields):
                raise ImmutableKeyError("Revoke credentials with serviceaccounts.services.revoke_credential().")
        super().save(*args, **kwargs)

    @property
    def masked(self) -> str:
        return tokens.mask(self.last4, kind=tokens.CREDENTIAL)

    @property
    def stops_at(self) -> datetime | None:
        return self.expires_at

    def status(self, now=None) -> Status:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return Status.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return Status.EXPIRED
        if self.expires_at is not None and self.expires_at <= now + EXPIRES_SOON:
            return Status.EXPIRES_SOON
        return Status.ACTIVE

    @property
    def current_status(self) -> Status:
        return self.status()

    def refusal(self, now) -> str | None:
        """Why authentication refuses this credential whose secret was proved, or None."""
        status = self.status(now)
        if status == Status.REVOKED:
            return "revoked"
        if status == Status.EXPIRED:
            return "expired"
        if not self.service_account.is_active:
            return "disabled"  # a deleted account's credentials are revoked with it
        return None


class ServiceAccountEvent(models.Model):
    """The audit trail of service accounts: who changed what, when and from where."""

    class Action(models.TextChoices):
        CREATED = "service_account.created", _("Service account created")
        UPDATED = "service_account.updated", _("Service account changed")
        DISABLED = "service_account.disabled", _("Service account disabled")
        ENABLED = "service_account.enabled", _("Service account enabled")
        DELETED = "service_account.deleted", _("Service account deleted")
        MEMBERSHIP_SET = "membership.set", _("Project permissions changed")
        MEMBERSHIP_REMOVED = "membership.removed", _("Removed from project")
        CREDENTIAL_CREATED = "credential.created", _("Credential created")
        CREDENTIAL_REVOKED = "credential.revoked", _("Credential revoked")

    action = models.CharField(_("action"), max_length=40, choices=Action.choices)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    organization = models.ForeignKey(
        Organization, verbose_name=_("organization"), on_delete=models.PROTECT, related_name="+"
    )
    service_account = models.ForeignKey(
        ServiceAccount, verbose_name=_("service account"), on_delete=models.PROTECT, related_name="events"
    )
    credential = models.ForeignKey(
        Credential, verbose_name=_("credential"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    project = models.ForeignKey(
        Project, verbose_name=_("project"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_credential = models.ForeignKey(
        Credential,
        verbose_name=_("actor credential"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Who acted, in English; survives the user's deletion.
    actor_label = models.CharField(_("actor label"), max_length=200)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    # What changed: {"added": [...], "removed": [...]} for permissions, or {"field": [old, new]}.
    changes = models.JSONField(_("changes"), default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("service account event")
        verbose_name_plural = _("service account events")

    def __str__(self) -> str:
        return gettext("%(action)s: %(account)s by %(actor)s") % {
            "action": self.get_action_display(),
            "account": self.service_account.name,
            "actor": self.actor_label,
        }

    @property
    def permission_changes(self) -> list[tuple[str, list[str]]]:
        """The permissions added and removed, each list with its count: "added 3 permissions", [codenames]."""
        changes = self.changes or {}
        found = []
        if added := changes.get("added"):
            label = ngettext("added %(count)s permission", "added %(count)s permissions", len(added))
            found.append((label % {"count": len(added)}, added))
        if removed := changes.get("removed"):
            label = ngettext("removed %(count)s permission", "removed %(count)s permissions", len(removed))
            found.append((label % {"count": len(removed)}, removed))
        return found

    @property
    def details(self) -> str:
        """What changed, for the account's History table (names as stored); the permissions: permission_changes."""
        changes = self.changes or {}
        parts = []
        if project := changes.get("project"):
            parts.append(project)
        if self.credential_id is not None:
            parts.append(f"{self.credential.name} ({self.credential.masked})")
        if key := changes.get("moved_from_key"):
            parts.append(gettext("moved from the API key %(public_id)s") % {"public_id": key})
        for field, label in (
            ("name", _("name")),
            ("description", _("description")),
            ("organization_role", _("organization role")),
        ):
            if self.action == self.Action.UPDATED and field in changes:
                old, new = changes[field]
                parts.append(f"{label}: {old or '—'} → {new or '—'}")
        return " · ".join(parts)


def from_unix(stamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(stamp, UTC) if stamp else None
