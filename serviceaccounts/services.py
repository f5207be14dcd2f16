"""The one path for changing service accounts, their project memberships and credentials (SPEC §8).

Used by the console's pages, the organization API, the admin and the
bootstrap command alike, so the rules live here once (moving an API key to a
service account too, at the end):

- Only an organization Admin or Owner (a user through their organization
  role, a credential through its service account's) manages service
  accounts; only an Owner gives one the organization role Admin.
- Nobody grants more than they hold: a permission added to a membership, or
  taken away from it, must be one the editor holds in that project (taking
  away too: else narrowing an account, minting and waiting for the
  permissions to come back would make a secret stronger than its maker), and
  a credential (or re-enabling an account, which makes its credentials work
  again) needs every permission the account holds in each of its projects.
- Every write takes the organization's row lock first and reads what it
  decides on again under it: two edits, an edit and a credential, a disable
  and a credential are ordered, and an acting credential revoked a moment
  ago acts no more. Authentication reads memberships and the account's state
  on every request (no cache), so a committed change holds on the next
  request on every node.
- Every change is audited: who, what was added and removed, from where.
"""

import contextlib
import dataclasses
import logging
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, IntegrityError, InterfaceError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from apikeys import schema, text, tokens
from apikeys import services as key_services
from apikeys.errors import ApiKeyError
from apikeys.models import ApiKey, AuditEvent, CreationTicket
from apikeys.services import ParentWording, within_limits
from projects import catalog
from projects.backends import preload_project_permissions, project_permissions
from projects.models import Organization, OrganizationMembership, OrganizationRole, Project
from serviceaccounts.models import Credential, ServiceAccount, ServiceAccountEvent, ServiceAccountMembership

logger = logging.getLogger(__name__)

Action = ServiceAccountEvent.Action


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who makes a change: a user, a credential (for its service account), or the operator at the command line."""

    user: AbstractBaseUser | None = None
    credential: Credential | None = None
    operator: str | None = None  # the system user running manage.py create_service_account_credential
    ip_address: str | None = None

    def __post_init__(self):
        if sum(x is not None for x in (self.user, self.credential, self.operator)) != 1:
            raise ValueError("An actor is exactly one of a user, a credential or an operator.")

    @property
    def label(self) -> str:
        """How the audit trail names the actor (in English, like every stored value)."""
        if self.user is not None:
            return self.user.get_username()
        if self.credential is not None:
            account = self.credential.service_account
            return f"service account {account.name} ({account.public_id}), credential {self.credential.public_id}"
        return f"operator {self.operator} (manage.py)"


@dataclasses.dataclass(frozen=True)
class CreatedCredential:
    credential: Credential
    secret: str  # shown once, never stored


# -- who may do what -----------------------------------------------------------------


def organization_role(actor: Actor, organization: Organization) -> OrganizationRole | None:
    """The actor's role in the organization, or None. Superusers and the operator act as Owners."""
    if actor.operator is not None:
        return OrganizationRole(name=catalog.OWNER, manages_organization=True, manages_service_accounts=True)
    if actor.credential is not None:
        account = actor.credential.service_account
        return account.organization_role if account.organization_id == organization.pk else None
    user = actor.user
    if not user.is_active:
        return None
    if user.is_superuser:
        return OrganizationRole(name=catalog.OWNER, manages_organization=True, manages_service_accounts=True)
    membership = (
        OrganizationMembership.objects.select_related("role").filter(organization=organization, user=user).first()
    )
    return membership.role if membership is not None else None


def is_member(actor: Actor, organization: Organization) -> bool:
    """Whether the organization exists for the actor at all (non-members get 404 for its pages)."""
    if actor.credential is not None:
        return actor.credential.service_account.organization_id == organization.pk
    return organization_role(actor, organization) is not None


def held_in(actor: Actor, project: Project) -> frozenset[str]:
    """The permissions the actor holds in `project` (the operator: all; a credential: its account's)."""
    if actor.operator is not None:
        return catalog.CODENAMES
    principal = actor.user if actor.user is not None else actor.credential.service_account
    return project_permissions(principal, project) or frozenset()


def _forbidden(message: str) -> ApiKeyError:
    return ApiKeyError(message, code="forbidden")


def _require_admin(actor: Actor, organization: Organization) -> None:
    role = organization_role(actor, organization)
    if role is None or not role.manages_service_accounts:
        raise _forbidden(
            gettext("Managing service accounts needs the organization role Admin or Owner in %(organization)s.")
            % {"organization": organization.name}
        )


def missing_for_credentials(actor: Actor, account: ServiceAccount) -> list[str]:
    """ "project: codename" for each permission of the account the actor lacks (empty: it may mint its secrets)."""
    missing = []
    memberships = list(account.memberships.select_related("project"))
    if actor.operator is None:
        principal = actor.user if actor.user is not None else actor.credential.service_account
        preload_project_permissions(principal, [membership.project for membership in memberships])
    for membership in memberships:
        held = held_in(actor, membership.project)
        missing += [f"{membership.project.slug}: {code}" for code in membership.permissions if code not in held]
    return missing


# -- locking and re-reading ------------------------------------------------------------


def _lock(organization_id: int) -> None:
    """Serialize every service-account write of one organization (SQLite: transactions begin IMMEDIATE)."""
    list(Organization.objects.select_for_update().filter(pk=organization_id).values_list("pk", flat=True))


def _fresh(actor: Actor) -> Actor:
    """The actor read again under the lock: a credential revoked, expired or disabled meanwhile acts no more."""
    if actor.credential is None:
        return actor
    current = (
        Credential.objects.select_related("service_account__organization_role", "service_account__organization")
        .filter(pk=actor.credential.pk)
        .first()
    )
    if current is None or (refusal := current.refusal(timezone.now())) is not None:
        code = "key_expired" if current is not None and refusal == "expired" else "key_revoked"
        raise ApiKeyError(gettext("The credential acting is no longer valid."), code=code)
    return dataclasses.replace(actor, credential=current)


def _account(account: ServiceAccount) -> ServiceAccount:
    """The account as it is now, under the lock; a deleted one is refused (deletion is final)."""
    current = ServiceAccount.objects.select_related("organization", "organization_role").get(pk=account.pk)
    if current.deleted_at is not None:
        raise ApiKeyError(gettext("This service account was deleted."), code="conflict")
    return current


@contextlib.contextmanager
def _writing(what: str):
    """One transaction; a database failure (the commit's too) becomes a clear refusal: nothing was saved."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        raise
    except (DatabaseError, InterfaceError):  # InterfaceError: the connection was lost
        logger.exception("%s failed in the database; nothing was saved.", what)
        raise ApiKeyError(
            gettext("The change could not be saved because of a temporary problem. Nothing was saved; try again."),
            code="unavailable",
        ) from None


def _audit(action, account: ServiceAccount, actor: Actor, now, *, project=None, credential=None, changes=None):
    ServiceAccountEvent.objects.create(
        action=action,
        at=now,
        organization_id=account.organization_id,
        service_account=account,
        credential=credential,
        project=project,
        actor_user=actor.user,
        actor_credential=actor.credential,
        actor_label=actor.label[:200],
        ip_address=actor.ip_address,
        changes=changes or {},
    )


# -- service accounts ------------------------------------------------------------------


def _name_error() -> ApiKeyError:
    return ApiKeyError(gettext("A service account with this name already exists in this organization."), field="name")


def _name_taken(organization: Organization, name: str, exclude_pk=None) -> bool:
    wanted = text.skeleton(name)
    names = ServiceAccount.objects.undeleted().filter(organization=organization).exclude(pk=exclude_pk)
    return any(text.skeleton(existing) == wanted for existing in names.values_list("name", flat=True))


def create_service_account(
    *, organization: Organization, name: str, description: str = "", actor: Actor
) -> ServiceAccount:
    name, description = schema.clean_name(name), schema.clean_description(description)
    try:
        with _writing("Creating a service account"):
            _lock(organization.pk)
            actor = _fresh(actor)
            _require_admin(actor, organization)
            if _name_taken(organization, name):
                raise _name_error()
            account = _insert_account(organization, name, description, actor, timezone.now())
    except IntegrityError:
        raise _name_error() from None
    return account


def _insert_account(organization, name, description, actor: Actor, now, moved_from_key=None) -> ServiceAccount:
    account = ServiceAccount.objects.create(
        organization=organization,
        name=name,
        description=description,
        created_at=now,
        created_by=actor.user,
        created_by_credential=actor.credential,
        moved_from_key=moved_from_key,
    )
    changes = {"name": name}
    if moved_from_key is not None:
        changes["moved_from_key"] = moved_from_key.public_id
    # A move names the key's project: only who may see that project sees the event.
    project = moved_from_key.project if moved_from_key is not None else None
    _audit(Action.CREATED, account, actor, now, project=project, changes=changes)
    return account


UNCHANGED = object()


def update_service_account(
    account: ServiceAccount,
    *,
    actor: Actor,
    name=UNCHANGED,
    description=UNCHANGED,
    organization_role: "OrganizationRole | None | object" = UNCHANGED,
) -> ServiceAccount:
    """Rename, describe, or (an Owner only) give or take the organization role Admin."""
    values = {}
    if name is not UNCHANGED:
        values["name"] = schema.clean_name(name)
    if description is not UNCHANGED:
        values["description"] = schema.clean_description(description)
    try:
        with _writing("Changing a service account"):
            _lock(account.organization_id)
            actor = _fresh(actor)
            current = _account(account)
            _require_admin(actor, current.organization)
            if organization_role is not UNCHANGED:
                role = organization_role_of(actor, current.organization)
                if not role.manages_organization:
                    raise _forbidden(gettext("Only an Owner of the organization can change a service account's role."))
                if organization_role is not None and organization_role.manages_organization:
                    raise _forbidden(gettext("A service account cannot be an Owner of its organization."))
                values["organization_role"] = organization_role
            if "name" in values and _name_taken(current.organization, values["name"], exclude_pk=current.pk):
                raise _name_error()
            changes = {}
            for field, value in values.items():
                old = getattr(current, field)
                if old != value:
                    changes[field] = [_plain(old), _plain(value)]
                    setattr(current, field, value)
            if changes:
                current.save(update_fields=list(values))
                _audit(Action.UPDATED, current, actor, timezone.now(), changes=changes)
    except IntegrityError:
        raise _name_error() from None
    return current


def organization_role_of(actor: Actor, organization: Organization) -> OrganizationRole:
    role = organization_role(actor, organization)
    if role is None:
        raise _forbidden(gettext("You are not a member of this organization."))
    return role


def _plain(value):
    return value.name if isinstance(value, OrganizationRole) else value


def set_disabled(account: ServiceAccount, disabled: bool, *, actor: Actor) -> ServiceAccount:
    """Disable (its credentials stop working at once) or enable again.

    Enabling makes its credentials work again, so it needs what minting one
    needs: every permission the account holds.
    """
    with _writing("Disabling a service account"):
        _lock(account.organization_id)
        actor = _fresh(actor)
        current = _account(account)
        _require_admin(actor, current.organization)
        if disabled == (current.disabled_at is not None):
            return current
        if not disabled and (refusal := enable_refusal(actor, current)) is not None:
            raise refusal
        now = timezone.now()
        current.disabled_at = now if disabled else None
        current.save(update_fields=["disabled_at"])
        _audit(Action.DISABLED if disabled else Action.ENABLED, current, actor, now)
    return current


def enable_refusal(actor: Actor, account: ServiceAccount) -> ApiKeyError | None:
    """Why the actor may not enable the account (its credentials would work again), or None."""
    if missing := missing_for_credentials(actor, account):
        return _forbidden(
            gettext("Enabling it needs every permission it holds; you lack: %(missing)s.")
            % {"missing": ", ".join(missing)}
        )
    return None


def delete_service_account(account: ServiceAccount, *, actor: Actor) -> ServiceAccount:
    """Soft and final, like revocation: the row stays for the audit trail; its credentials are revoked."""
    with _writing("Deleting a service account"):
        _lock(account.organization_id)
        actor = _fresh(actor)
        current = _account(account)
        _require_admin(actor, current.organization)
        now = timezone.now()
        for credential in current.credentials.filter(revoked_at__isnull=True):
            _revoke(credential, current, actor, now)
        current.deleted_at = now
        current.save(update_fields=["deleted_at"])
        _audit(Action.DELETED, current, actor, now)
    return current


# -- project memberships ---------------------------------------------------------------


def set_membership(account: ServiceAccount, *, project: Project, permissions, actor: Actor) -> ServiceAccountMembership:
    """Make the account a member of `project` holding exactly `permissions` (what changes: the editor's own)."""
    wanted = schema.clean_permissions(permissions)
    with _writing("Changing a service account's project permissions"):
        _lock(account.organization_id)
        actor = _fresh(actor)
        current = _account(account)
        _require_admin(actor, current.organization)
        if project.organization_id != current.organization_id:
            raise ApiKeyError(gettext("The project belongs to another organization."), field="project", code="invalid")
        membership = _write_membership(current, project, wanted, actor, timezone.now())
    return membership


def _write_membership(account, project, wanted: list[str], actor: Actor, now) -> ServiceAccountMembership:
    """Set the account's permissions in `project` (added ones: the actor's own) and audit what changed."""
    membership = ServiceAccountMembership.objects.filter(service_account=account, project=project).first()
    before = list(membership.permissions) if membership is not None else []
    added = [code for code in wanted if code not in before]
    removed = [code for code in before if code not in wanted]
    held = held_in(actor, project)
    if not_held := [code for code in added if code not in held]:
        raise ApiKeyError(
            gettext("You cannot grant permissions you do not hold in this project: %(codes)s.")
            % {"codes": ", ".join(not_held)},
            field="permissions",
            code="forbidden",
        )
    _require_held_to_remove(removed, held)
    if membership is None:
        membership = ServiceAccountMembership.objects.create(
            service_account=account, project=project, permissions=wanted, created_at=now, updated_at=now
        )
    elif added or removed:
        membership.permissions, membership.updated_at = wanted, now
        membership.save(update_fields=["permissions", "updated_at"])
    if membership.created_at == now or added or removed:
        _audit(
            Action.MEMBERSHIP_SET,
            account,
            actor,
            now,
            project=project,
            changes={"project": project.slug, "added": added, "removed": removed},
        )
    return membership


def _require_held_to_remove(removed: list[str], held: frozenset[str]) -> None:
    """Taking a permission away needs holding it too.

    Otherwise an editor could narrow an account to what they hold, mint a
    credential (which needs only what the account holds then), and keep it
    when someone gives the permissions back: a secret stronger than its maker.
    """
    if not_held := [code for code in removed if code not in held]:
        raise ApiKeyError(
            gettext("You cannot take away permissions you do not hold in this project: %(codes)s.")
            % {"codes": ", ".join(not_held)},
            field="permissions",
            code="forbidden",
        )


def remove_membership(account: ServiceAccount, *, project: Project, actor: Actor) -> bool:
    """Take the account out of `project`; False if it was not a member."""
    with _writing("Removing a service account from a project"):
        _lock(account.organization_id)
        actor = _fresh(actor)
        current = _account(account)
        _require_admin(actor, current.organization)
        membership = ServiceAccountMembership.objects.filter(service_account=current, project=project).first()
        if membership is None:
            return False
        _require_held_to_remove(membership.permissions, held_in(actor, project))
        membership.delete()
        _audit(
            Action.MEMBERSHIP_REMOVED,
            current,
            actor,
            timezone.now(),
            project=project,
            changes={"project": project.slug, "added": [], "removed": list(membership.permissions)},
        )
    return True


# -- credentials -------------------------------------------------------------------------


def create_credential(
    account: ServiceAccount,
    *,
    name: str,
    expires_at: datetime | None = None,
    allowed_ips=(),
    actor: Actor,
    ticket: str | None = None,
) -> CreatedCredential:
    """A new credential and its secret (the only time it exists).

    Needs the organization role Admin or Owner and every permission the
    account holds in each of its projects: nobody mints a secret stronger
    than themselves. A credential minting one gives it at most its own
    lifetime and addresses, as a key creating a key does. The console's
    one-time `ticket` is consumed in the same transaction, so a resubmitted
    form makes no second secret.
    """
    now = timezone.now()
    values = schema.parse(
        name=name,
        permissions=[catalog.READ_PROJECT],  # checked per membership below, not here
        expires_at=expires_at,
        allowed_ips=allowed_ips,
        now=now,
    )
    with _writing("Creating a credential"):
        _lock(account.organization_id)
        actor = _fresh(actor)
        _consume(ticket, actor, now)  # a resubmitted form is said as such, before anything else
        current = _account(account)
        _require_admin(actor, current.organization)
        if (refusal := credential_refusal(actor, current)) is not None:
            raise refusal
        values = within_limits(values, now, actor.credential, CREDENTIAL_CREATES)
        if current.credentials.active(now).filter(name=values.name).exists():
            raise ApiKeyError(gettext("An active credential with this name already exists."), field="name")
        created = _insert_credential(current, values, actor, now)
    return created


def credential_refusal(actor: Actor, account: ServiceAccount) -> ApiKeyError | None:
    """Why an Admin or Owner may not mint a credential of the account now, or None (the console asks before
    offering it; create_credential raises it)."""
    if account.deleted_at is not None:
        return ApiKeyError(gettext("This service account was deleted."), code="conflict")
    if account.disabled_at is not None:
        return ApiKeyError(gettext("This service account is disabled: enable it first."), code="conflict")
    if missing := missing_for_credentials(actor, account):
        return _forbidden(
            gettext("A credential of this service account needs every permission it holds; you lack: %(missing)s.")
            % {"missing": ", ".join(missing)}
        )
    return None


def _consume(ticket: str | None, actor: Actor, now) -> None:
    """Use the console form's one-time ticket; a second submission of the same form creates nothing."""
    if ticket is not None and not CreationTicket.objects.consume(ticket, user=actor.user, now=now):
        raise ApiKeyError(
            gettext("This form was already submitted. Nothing new was created; its secret was shown once."),
            code="already_submitted",
        )


def _insert_credential(account: ServiceAccount, values: schema.KeyInput, actor: Actor, now) -> CreatedCredential:
    """Write a credential and its audit event; the caller has checked everything under the lock."""
    issued = tokens.issue(tokens.CREDENTIAL)
    credential = Credential.objects.create(
        public_id=issued.public_id,
        secret_hash=issued.secret_hash,
        pepper_version=issued.pepper_version,
        last4=issued.last4,
        service_account=account,
        name=values.name,
        expires_at=values.expires_at,
        allowed_ips=values.allowed_ips,
        created_at=now,
        created_by=actor.user,
        created_by_credential=actor.credential,
        created_by_label=actor.label if actor.operator is not None else "",
    )
    _audit(Action.CREDENTIAL_CREATED, account, actor, now, credential=credential, changes={"name": values.name})
    return CreatedCredential(credential, issued.raw)


CREDENTIAL_CREATES = ParentWording(
    gettext_lazy("The expiration date can be at most %(latest)s UTC (the credential creating it)."),
    gettext_lazy("The credential creating it may only be used from %(limits)s, so these are not allowed: %(beyond)s."),
)


def revoke_credential(credential: Credential, *, actor: Actor) -> bool:
    """Revoke for good; False if it was already revoked. The very next request with it fails."""
    with _writing("Revoking a credential"):
        _lock(credential.service_account.organization_id)
        actor = _fresh(actor)
        account = ServiceAccount.objects.select_related("organization").get(pk=credential.service_account_id)
        _require_admin(actor, account.organization)
        changed = _revoke(credential, account, actor, timezone.now())
    credential.refresh_from_db(fields=["revoked_at", "revoked_by", "revoked_by_credential"])
    return changed


def _revoke(credential: Credential, account: ServiceAccount, actor: Actor, now) -> bool:
    changed = Credential.objects.filter(pk=credential.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor.user, revoked_by_credential=actor.credential
    )
    if changed:
        _audit(Action.CREDENTIAL_REVOKED, account, actor, now, credential=credential)
    return bool(changed)


# -- moving an API key to a service account ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MovePlan:
    """What "Move to a service account" creates for a key (SPEC §8), before anything is written."""

    api_key: ApiKey
    name: str  # the service account's: the key's, made unique in the organization
    permissions: list[str]  # the membership's in the key's project: exactly the key's
    expires_at: datetime | None  # the first credential's: when the key stops by itself
    allowed_ips: list[str]
    refusal: str | None  # why the key cannot be moved at all (revoked, expired, moved already), or None

    @property
    def project(self) -> Project:
        return self.api_key.project

    @property
    def organization(self) -> Organization:
        return self.api_key.project.organization


LOOK_UP = object()  # `moved`: not known yet, query it


def plan_move(api_key: ApiKey, now=None, *, moved=LOOK_UP) -> MovePlan:
    """What moving the key creates; `moved` is its undeleted account when the caller has it (None: there is none)."""
    now = now or timezone.now()
    return MovePlan(
        api_key=api_key,
        name=_free_name(api_key),
        permissions=[code for code in api_key.permissions if code in catalog.CODENAMES],
        expires_at=api_key.stops_at,
        allowed_ips=list(api_key.allowed_ips),
        refusal=key_move_refusal(api_key, now, moved=moved),
    )


def moved_to(api_key: ApiKey, *, deleted_too: bool = False) -> ServiceAccount | None:
    """The service account made from the key, if any: the undeleted one, or (`deleted_too`) the latest.

    A key is moved once; after its account was deleted it may be moved again,
    and its page still links to the deleted one.
    """
    accounts = api_key.moved_to.all() if deleted_too else api_key.moved_to.undeleted()
    return accounts.select_related("organization").order_by("-created_at", "-id").first()


def key_move_refusal(api_key: ApiKey, now, *, moved=LOOK_UP) -> str | None:
    """Why the key cannot be moved by anyone (revoked, expired, rolled, moved already), or None."""
    if (refusal := api_key.refusal(now)) is not None:
        return {
            "revoked": gettext("This API key is revoked: only a working key can be moved."),
            "retired": gettext("This API key was rolled and has retired: move the key that replaced it."),
        }.get(refusal, gettext("This API key has expired: only a working key can be moved."))
    if api_key.retires_at is not None:
        return gettext("This API key was rolled and retires soon: move the key that replaced it.")
    if moved is LOOK_UP:
        moved = moved_to(api_key)
    if moved is not None:
        return gettext("This API key was already moved to the service account “%(name)s”.") % {"name": moved.name}
    return None


def move_refusal(actor: Actor, api_key: ApiKey, now, *, moved=LOOK_UP) -> ApiKeyError | None:
    """Why the actor may not move the key, or None: the key must work and not be moved yet (409), and moving
    needs what creating its credential needs, the organization role Admin or Owner and every permission (403)."""
    if (refusal := key_move_refusal(api_key, now, moved=moved)) is not None:
        return ApiKeyError(refusal, code="conflict")
    organization = api_key.project.organization
    role = organization_role(actor, organization)
    if role is None or not role.manages_service_accounts:
        return _forbidden(
            gettext(
                "Moving a key needs the organization role Admin or Owner in %(organization)s. "
                "Ask one of its Admins or Owners."
            )
            % {"organization": organization.name}
        )
    held = held_in(actor, api_key.project)
    if missing := [code for code in api_key.permissions if code in catalog.CODENAMES and code not in held]:
        return _forbidden(
            gettext("Moving this key needs every permission it holds; you lack: %(missing)s.")
            % {"missing": ", ".join(missing)}
        )
    return None


def _free_name(api_key: ApiKey) -> str:
    """The key's name, or with its project's slug (then a number) when the organization has an account so named."""
    names = ServiceAccount.objects.undeleted().filter(organization_id=api_key.project.organization_id)
    taken = {text.skeleton(name) for name in names.values_list("name", flat=True)}
    base, slug = api_key.name, api_key.project.slug
    candidates = [base, f"{base} ({slug})", *(f"{base} ({slug} {n})" for n in range(2, 100))]
    for candidate in candidates:
        # Cut the name, never the suffix that makes it unique.
        suffix = candidate[len(base) :]
        candidate = base[: schema.NAME_MAX_LENGTH - len(suffix)] + suffix
        if text.skeleton(candidate) not in taken:
            return candidate
    return base


@dataclasses.dataclass(frozen=True)
class Moved:
    service_account: ServiceAccount
    created: CreatedCredential


def move_api_key(api_key: ApiKey, *, name: str, actor: Actor, ticket: str | None = None) -> Moved:
    """Make a service account from an API key, in one transaction (SPEC §8).

    The account is named `name` in the key's organization, is a member of the
    key's project holding exactly the key's permissions, and gets a first
    credential with the key's expiry and allowed addresses. Moving needs what
    creating that credential needs: the organization role Admin or Owner and
    every permission of the key. The key is not touched: it keeps working
    until someone revokes it; both entries link to each other.
    """
    name = schema.clean_name(name)
    now = timezone.now()
    organization_id = api_key.project.organization_id
    try:
        with _writing("Moving an API key to a service account"):
            _lock(organization_id)
            actor = _fresh(actor)
            _consume(ticket, actor, now)
            key = ApiKey.objects.select_related("project__organization").get(pk=api_key.pk)
            organization, project = key.project.organization, key.project
            if (refusal := move_refusal(actor, key, now)) is not None:
                raise refusal
            plan = plan_move(key, now, moved=None)  # none: move_refusal looked
            if _name_taken(organization, name):
                raise _name_error()
            values = schema.parse(
                name=key.name,
                permissions=[catalog.READ_PROJECT],
                expires_at=plan.expires_at,
                allowed_ips=plan.allowed_ips,
                now=now,
            )
            values = within_limits(values, now, None, CREDENTIAL_CREATES)
            account = _insert_account(organization, name, key.description, actor, now, moved_from_key=key)
            _write_membership(account, project, plan.permissions, actor, now)
            created = _insert_credential(account, values, actor, now)
            key_services.record_event(
                AuditEvent.Action.MOVED, key, user=actor.user, ip_address=actor.ip_address, now=now
            )
    except IntegrityError:
        raise _name_error() from None
    return Moved(account, created)
