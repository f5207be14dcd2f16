"""The one path for creating and revoking API keys (authentication: apikeys.authentication).

Used by the console, the admin and the API alike, so the rules (what a creator
may grant, the lifetime policy, the deprecation switch, the audit trail) live
in one place; what the values themselves may be is apikeys.schema's.
"""

import dataclasses
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, IntegrityError, InterfaceError, models, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext, gettext_lazy, pgettext

from apikeys import addresses, schema, text, tokens
from apikeys.errors import TEMPORARY_FAILURE, TEMPORARY_FAILURE_ROLL, ApiKeyError
from apikeys.models import ApiKey, AuditEvent, CreationTicket, Status
from projects import catalog
from projects.backends import project_permissions
from projects.models import Project

logger = logging.getLogger(__name__)


# insert_key's default parent: the key that creates the new one, if any.
CREATOR = object()


@dataclasses.dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    secret: str  # shown once, never stored


# -- rules ------------------------------------------------------------------


def creation_disabled_reason() -> str | None:
    if settings.API_KEY_CREATION_DISABLED:
        return gettext(
            "Creating new API keys is disabled: API keys are deprecated in favour of "
            "Service Accounts. Existing API keys keep working."
        )
    return None


def grantable_permissions(*, user: AbstractBaseUser | None = None, key: ApiKey | None = None, project: Project):
    """The codenames the creator may put on a new key in `project`."""
    if key is not None:
        return frozenset(key.permissions) & catalog.CODENAMES
    held = project_permissions(user, project) if user is not None else None
    return frozenset(held or ()) & catalog.CODENAMES


def latest_allowed_expiry(now: datetime, parent_key) -> datetime | None:
    """The latest expiry policy allows, and never past `parent_key`'s (a key or credential) own."""
    candidates = []
    if settings.API_KEY_MAX_LIFETIME_DAYS:
        candidates.append(now + timedelta(days=settings.API_KEY_MAX_LIFETIME_DAYS))
    if parent_key is not None and parent_key.expires_at is not None:
        candidates.append(parent_key.expires_at)
    return min(candidates) if candidates else None


# -- creating a key: validate, authorize, write -------------------------------


def api_key_create(
    *,
    project: Project,
    name: str,
    permissions,
    description: str = "",
    tags=(),
    expires_at: datetime | None = None,
    allowed_ips=(),
    created_by: AbstractBaseUser | None = None,
    created_by_key: ApiKey | None = None,
    ip_address: str | None = None,
    ticket: str | None = None,
) -> CreatedKey:
    """Create a key and return it with its secret (the only time it exists).

    1. The deprecation switch, and the creator's right to create keys here.
    2. Validate the values (apikeys.schema).
    3. Authorize them: every permission one the creator holds in `project`
       (a user through their role, a key through its own permissions); the
       lifetime policy and, for key-created keys, the parent's expiry and
       allowed addresses (a key limited to addresses creates keys limited
       within them: its own list when none is given).
    4. Write, in one transaction: consume the form's one-time ticket (if
       any), insert the key, record the audit event.
    """
    if (created_by is None) == (created_by_key is None):
        raise ValueError("Exactly one of created_by and created_by_key must be given.")
    if reason := creation_disabled_reason():
        raise ApiKeyError(reason, code="creation_disabled")
    grantable = _authorize_creator(project, created_by, created_by_key)
    now = timezone.now()
    values = schema.parse(
        name=name,
        description=description,
        tags=tags,
        permissions=permissions,
        expires_at=expires_at,
        allowed_ips=allowed_ips,
        now=now,
    )
    values = _authorize_values(values, grantable, now, created_by_key)
    return _write(values, project, created_by, created_by_key, ip_address, ticket, now)


def _authorize_creator(project: Project, user, key: ApiKey | None) -> frozenset[str]:
    """What the creator may grant in `project`, if it may create keys there at all."""
    if key is not None and key.project_id != project.pk:
        raise ApiKeyError(gettext("A key can only create keys in its own project."), code="forbidden")
    grantable = grantable_permissions(user=user, key=key, project=project)
    if catalog.CREATE_API_KEYS not in grantable:
        raise ApiKeyError(
            gettext("Creating API keys needs the permission %(codename)s.") % {"codename": catalog.CREATE_API_KEYS},
            code="forbidden",
        )
    return grantable


def _authorize_values(values: schema.KeyInput, grantable, now: datetime, parent_key: ApiKey | None) -> schema.KeyInput:
    """The values as they will be written, or ApiKeyError if the creator may not grant them."""
    if not_held := [p for p in values.permissions if p not in grantable]:
        raise ApiKeyError(
            gettext("You cannot grant permissions you do not hold in this project: %(codes)s.")
            % {"codes": ", ".join(sorted(not_held))},
            field="permissions",
            code="forbidden",
        )
    return within_limits(values, now, parent_key, KEY_CREATES)


@dataclasses.dataclass(frozen=True)
class ParentWording:
    """How a refusal names the parent that limits a new secret: whole sentences, so each language builds its own."""

    beyond_expiry: str  # a lazy translation with %(latest)s
    beyond_addresses: str  # with %(limits)s and %(beyond)s


KEY_CREATES = ParentWording(
    gettext_lazy("The expiration date can be at most %(latest)s UTC (the key creating it)."),
    gettext_lazy("The key creating it may only be used from %(limits)s, so these are not allowed: %(beyond)s."),
)


def within_limits(values: schema.KeyInput, now: datetime, parent, wording: ParentWording) -> schema.KeyInput:
    """The values within the lifetime policy and, for a secret made by a key or credential (`parent`), within
    its expiry and allowed addresses (its own list when none is given); else ApiKeyError naming the limit."""
    latest = latest_allowed_expiry(now, parent)
    if values.expires_at is None:
        if settings.API_KEY_REQUIRE_EXPIRY:
            raise ApiKeyError(gettext("An expiration date is required."), field="expires_at")
        if latest is not None:
            raise ApiKeyError(
                gettext("An expiration date is required; the latest allowed is %(latest)s UTC.")
                % {"latest": utc_instant(latest)},
                field="expires_at",
            )
    elif latest is not None and values.expires_at > latest:
        if parent is not None and latest == parent.expires_at:
            message = str(wording.beyond_expiry)
        else:
            message = gettext("The expiration date can be at most %(latest)s UTC (policy).")
        raise ApiKeyError(message % {"latest": utc_instant(latest)}, field="expires_at")
    if parent is not None and parent.allowed_ips:
        if not values.allowed_ips:
            return dataclasses.replace(values, allowed_ips=list(parent.allowed_ips))
        if beyond := addresses.outside(values.allowed_ips, parent.allowed_ips):
            raise ApiKeyError(
                str(wording.beyond_addresses) % {"limits": ", ".join(parent.allowed_ips), "beyond": ", ".join(beyond)},
                field="allowed_ips",
                code="forbidden",
            )
    return values


def utc_instant(value: datetime) -> str:
    """An instant in UTC as a message states it, in the active language's date format.

    English, the language the API always answers in, keeps ISO 8601
    ("2027-02-24 23:59"); German writes its own ("24.02.2027, 23:59").
    """
    # Translators: a date format of Django's `date` filter for an instant in
    # UTC inside a sentence (Y: year, m: month, d: day, H:i: time). German:
    # d.m.Y, H:i (the date, a comma, the time, as the console's dates).
    return formats.date_format(value.astimezone(UTC), pgettext("date format", "Y-m-d H:i"))


def _write(values: schema.KeyInput, project, user, key, ip_address, ticket, now: datetime) -> CreatedKey:
    try:
        with transaction.atomic():
            if ticket is not None and not CreationTicket.objects.consume(ticket, user=user, now=now):
                raise ApiKeyError(
                    gettext(
                        "This form was already submitted, so no second key was created. "
                        "The secret of a key is shown only once, right after creation."
                    ),
                    code="already_submitted",
                )
            # Every key write in a project holds the project's row lock (see
            # _lock_project): names are unique among active keys, and a key
            # revoked meanwhile must not create anything.
            _lock_project(project.pk)
            parent = _check_acting_key(key) if key is not None else CREATOR
            if _name_taken(project, values.name, now):
                raise _name_taken_error()
            created = insert_key(
                values,
                project=project,
                created_by=user,
                created_by_key=key,
                parent=parent,
                ip_address=ip_address,
                now=now,
            )
    except IntegrityError:
        # Lost a race for the name with a parallel request.
        raise _name_taken_error() from None
    except (DatabaseError, InterfaceError):  # InterfaceError: the connection was lost
        # The transaction rolled back (the ticket with it): nothing was saved,
        # and the same request can be sent again.
        logger.exception("Creating an API key failed in the database; nothing was saved.")
        raise ApiKeyError(str(TEMPORARY_FAILURE), code="unavailable") from None
    return created


def insert_key(
    values: schema.KeyInput,
    *,
    project: Project,
    created_by: AbstractBaseUser | None = None,
    created_by_key: ApiKey | None = None,
    parent: "ApiKey | None | object" = CREATOR,
    ip_address: str | None = None,
    now: datetime,
    action: str = AuditEvent.Action.CREATED,
) -> CreatedKey:
    """Write a key and its audit event, as of `now`: a new secret, stored only as its keyed hash.

    `parent`, the key whose revocation revokes this one, is the creating key
    unless given (a rolled key's successor takes its predecessor's parent).

    It checks nothing: the caller has validated and authorized `values`.
    api_key_create does, under the project's lock; seed_demo does the same
    checks for its one back-dated (expired) demo key.
    """
    issued = tokens.issue()
    api_key = ApiKey.objects.create(
        public_id=issued.public_id,
        secret_hash=issued.secret_hash,
        pepper_version=issued.pepper_version,
        last4=issued.last4,
        project=project,
        name=values.name,
        description=values.description,
        tags=values.tags,
        permissions=values.permissions,
        expires_at=values.expires_at,
        allowed_ips=values.allowed_ips,
        created_at=now,
        created_by=created_by,
        created_by_key=created_by_key,
        parent=created_by_key if parent is CREATOR else parent,
    )
    _audit(action, api_key, created_by, created_by_key, ip_address, now)
    return CreatedKey(api_key=api_key, secret=issued.raw)


def _name_taken_error() -> ApiKeyError:
    return ApiKeyError(gettext("An active API key with this name already exists in this project."), field="name")


# -- revoking ------------------------------------------------------------------


def api_key_revoke(
    *,
    api_key: ApiKey,
    revoked_by: AbstractBaseUser | None = None,
    revoked_by_key: ApiKey | None = None,
    ip_address: str | None = None,
) -> bool:
    """Revoke a key for good. Returns False if it was already revoked.

    1. One conditional UPDATE, so two revocations racing each other record
       one revocation and one audit event.
    2. Keys that this key created over the API cannot outlive it (README, "Revocation is soft and final"):
       they are revoked in the same transaction, every generation, each with
       its own audit event. A leaked key's offspring die with it.
    """
    if (revoked_by is None) == (revoked_by_key is None):
        raise ValueError("Exactly one of revoked_by and revoked_by_key must be given.")
    with transaction.atomic():
        _lock_project(api_key.project_id)
        if revoked_by_key is not None:
            _check_acting_key(revoked_by_key)
        now = timezone.now()
        changed = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=revoked_by, revoked_by_key=revoked_by_key
        )
        if changed:
            _audit(AuditEvent.Action.REVOKED, api_key, revoked_by, revoked_by_key, ip_address, now)
            descendants = api_key.unrevoked_descendants()
            ApiKey.objects.filter(pk__in=[d.pk for d in descendants], revoked_at__isnull=True).update(
                revoked_at=now, revoked_by=revoked_by, revoked_by_key=revoked_by_key
            )
            for descendant in descendants:
                _audit(AuditEvent.Action.REVOKED, descendant, revoked_by, revoked_by_key, ip_address, now)
    if changed:
        api_key.revoked_at, api_key.revoked_by, api_key.revoked_by_key = now, revoked_by, revoked_by_key
    else:
        api_key.refresh_from_db(fields=["revoked_at", "revoked_by", "revoked_by_key"])
    return bool(changed)


# -- rolling ------------------------------------------------------------------

# The grace periods the console offers; the API takes any number of seconds up to the last.
GRACE_PERIODS = (timedelta(0), timedelta(hours=1), timedelta(hours=24), timedelta(days=7))
MAX_GRACE = GRACE_PERIODS[-1]
# The lifetime of a successor whose predecessor had none, when keys must expire and policy sets no cap.
DEFAULT_LIFETIME = timedelta(days=90)


def api_key_roll(
    *,
    api_key: ApiKey,
    grace: timedelta,
    rolled_by: AbstractBaseUser | None = None,
    rolled_by_key: ApiKey | None = None,
    ip_address: str | None = None,
) -> CreatedKey:
    """Replace a key by a successor with a new secret; the old one keeps working for `grace` (SPEC §7).

    1. The deprecation switch, as for creating; the grace period (0 to 7 days).
    2. Under the project's lock, the key read again: a revoked, expired,
       retired or already rolled key is refused, so two rolls at once give
       one successor.
    3. Who may: a user holding the API Key Creation Permission and every
       permission of the key; a key only itself or a key below it (through
       `parent`), holding every permission of the key. Nobody obtains a
       secret with more than they hold.
    4. In one transaction: the successor (same name, description, tags,
       permissions and allowed addresses; the old key's original lifetime from now, within policy
       and its parent's expiry; the old key's parent), the old key's
       `retires_at` (never past its expiry) and `successor`, its children
       re-parented to the successor, and a "rolled" audit event on both (and
       "retired" at once for a grace of 0).
    """
    if (rolled_by is None) == (rolled_by_key is None):
        raise ValueError("Exactly one of rolled_by and rolled_by_key must be given.")
    if reason := creation_disabled_reason():
        raise ApiKeyError(reason, code="creation_disabled")
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise ApiKeyError(gettext("The grace period must be between 0 seconds and 7 days."), field="grace_seconds")
    try:
        with transaction.atomic():
            _lock_project(api_key.project_id)
            if rolled_by_key is not None:
                _check_acting_key(rolled_by_key)
            old = ApiKey.objects.select_related("project", "parent").get(pk=api_key.pk)
            now = timezone.now()
            _check_rollable(old, now)
            _authorize_roll(old, rolled_by, rolled_by_key)
            values = schema.KeyInput(
                name=old.name,
                description=old.description,
                tags=list(old.tags),
                permissions=list(old.permissions),
                expires_at=_successor_expiry(old, now),
                allowed_ips=list(old.allowed_ips),
            )
            created = insert_key(
                values,
                project=old.project,
                created_by=rolled_by,
                created_by_key=rolled_by_key,
                parent=old.parent,
                ip_address=ip_address,
                now=now,
                action=AuditEvent.Action.ROLLED,
            )
            retires_at = min(now + grace, old.expires_at) if old.expires_at is not None else now + grace
            rolled = ApiKey.objects.filter(pk=old.pk, successor__isnull=True, revoked_at__isnull=True).update(
                retires_at=retires_at, successor=created.api_key
            )
            if rolled != 1:  # cannot happen under the lock; never leave two successors
                raise ApiKeyError(_already_rolled_message(), code="conflict")
            ApiKey.objects.filter(parent=old).exclude(pk=created.api_key.pk).update(parent=created.api_key)
            _audit(AuditEvent.Action.ROLLED, old, rolled_by, rolled_by_key, ip_address, now)
            if retires_at <= now:
                _audit(AuditEvent.Action.RETIRED, old, rolled_by, rolled_by_key, ip_address, now)
    except (DatabaseError, InterfaceError):
        logger.exception("rolling API key %s failed; nothing was saved", api_key.public_id)
        raise ApiKeyError(str(TEMPORARY_FAILURE_ROLL), code="unavailable") from None
    api_key.retires_at, api_key.successor = retires_at, created.api_key
    return created


def record_retirements(now: datetime) -> int:
    """A "retired" audit event for each rolled key whose grace period ended unrevoked, dated when it ended.

    Run daily by manage.py clear_expired; a grace of 0 records it when rolling.
    A key that has its event gets no second one, also when two hosts run it at once.
    """
    ended = (
        ApiKey.objects.filter(retires_at__lte=now)
        .exclude(revoked_at__lte=models.F("retires_at"))
        .exclude(audit_events__action=AuditEvent.Action.RETIRED)
    )
    events = [
        AuditEvent(
            action=AuditEvent.Action.RETIRED, at=key.retires_at, project_id=key.project_id, api_key=key, actor_label=""
        )
        for key in ended
    ]
    # Two hosts at once: the constraint one_retired_event_per_key keeps one of each.
    AuditEvent.objects.bulk_create(events, ignore_conflicts=True)
    return len(events)


def _check_rollable(key: ApiKey, now: datetime) -> None:
    status = key.status(now)
    if status == Status.REVOKED:
        raise ApiKeyError(gettext("A revoked API key cannot be rolled."), code="conflict")
    if key.successor_id is not None:
        raise ApiKeyError(_already_rolled_message(), code="conflict")
    if status == Status.EXPIRED:
        raise ApiKeyError(gettext("An expired API key cannot be rolled: create a new key."), code="conflict")


def _already_rolled_message() -> str:
    return gettext("This API key was already rolled; roll its successor instead.")


def _authorize_roll(key: ApiKey, user, acting_key: ApiKey | None) -> None:
    """Who may roll `key`: a user with the API Key Creation Permission, or a key rolling itself or a key
    below it; either holding every permission of `key`."""
    if acting_key is not None:
        if acting_key.project_id != key.project_id:
            raise ApiKeyError(gettext("A key can only roll keys of its own project."), code="forbidden")
        if acting_key.pk != key.pk and acting_key.pk not in _ancestors(key):
            raise ApiKeyError(gettext("A key can roll only itself and the keys it created."), code="forbidden")
    grantable = grantable_permissions(user=user, key=acting_key, project=key.project)
    if catalog.CREATE_API_KEYS not in grantable:
        raise ApiKeyError(
            gettext("Rolling API keys needs the permission %(codename)s.") % {"codename": catalog.CREATE_API_KEYS},
            code="forbidden",
        )
    if not_held := sorted(set(key.permissions) - grantable):
        raise ApiKeyError(
            gettext("You cannot roll a key with permissions you do not hold in this project: %(codes)s.")
            % {"codes": ", ".join(not_held)},
            code="forbidden",
        )


def _ancestors(key: ApiKey) -> set[int]:
    """The pks of the keys whose revocation revokes `key`: its parent, their parent, and so on."""
    found, parent_id = set(), key.parent_id
    while parent_id is not None and parent_id not in found:
        found.add(parent_id)
        parent_id = ApiKey.objects.filter(pk=parent_id).values_list("parent_id", flat=True).first()
    return found


def _successor_expiry(old: ApiKey, now: datetime) -> datetime | None:
    """The old key's original lifetime, counted from now, within policy and never past its parent's expiry."""
    if old.expires_at is not None:
        expires_at = now + (old.expires_at - old.created_at)
    elif settings.API_KEY_REQUIRE_EXPIRY or settings.API_KEY_MAX_LIFETIME_DAYS:
        expires_at = now + DEFAULT_LIFETIME
    else:
        expires_at = None
    latest = latest_allowed_expiry(now, old.parent)
    if latest is not None and (expires_at is None or expires_at > latest):
        expires_at = latest
    return min(expires_at, now + schema.MAX_EXPIRY) if expires_at is not None else None


def _name_taken(project: Project, name: str, now: datetime) -> bool:
    """Whether an active key of the project has a name that looks the same (apikeys.text.skeleton).

    Compared in Python: a skeleton is not something SQL can compute, and a
    project's active names are few enough to read under the project's lock.
    """
    wanted = text.skeleton(name)
    names = ApiKey.objects.filter(project=project).active(now).values_list("name", flat=True).iterator()
    return any(text.skeleton(existing) == wanted for existing in names)


def _lock_project(project_id: int) -> None:
    """Serialize every key write in one project: creations and revocations.

    A key authenticated a moment ago may be revoked before its request writes.
    Taking the project's row lock first, in every writing transaction, orders
    the two: either the revocation committed before we got the lock (and the
    re-check in _check_acting_key sees it), or it waits for our commit (and
    its cascade sees the key we created). One lock, always taken first, so no
    two writers can deadlock. On SQLite `select_for_update` is a no-op, but
    transactions begin IMMEDIATE (settings), which serializes writers the
    same way.
    """
    list(Project.objects.select_for_update().filter(pk=project_id).values_list("pk", flat=True))


def _check_acting_key(api_key: ApiKey) -> ApiKey:
    """Inside the writing transaction: is the key that authorizes it still usable?

    Read again, after the project lock, because authentication happened
    before the transaction started. Returns the key whose revocation must
    revoke what this key creates: itself, or, while it retires after a roll,
    its successor (so that nothing it creates outlives the line it belongs to).
    """
    current = ApiKey.objects.filter(pk=api_key.pk).only("revoked_at", "expires_at", "retires_at", "successor").first()
    now = timezone.now()
    if current is None or current.revoked_at is not None:
        raise ApiKeyError(gettext("The API key has been revoked."), code="key_revoked")
    if current.is_retired(now):
        raise ApiKeyError(gettext("The API key has been retired."), code="key_revoked")
    if current.is_expired(now):
        raise ApiKeyError(gettext("The API key has expired."), code="key_expired")
    if current.successor_id is None:
        return current
    successor = ApiKey.objects.get(pk=current.successor_id)
    if successor.revoked_at is not None:
        # Its line was revoked: what it would create would die at once.
        raise ApiKeyError(gettext("The API key has been revoked."), code="key_revoked")
    return successor


def record_event(action, api_key: ApiKey, *, user, ip_address: str | None, now) -> None:
    """An audit event of `api_key` done by a user elsewhere (moving it to a service account)."""
    _audit(action, api_key, user, None, ip_address, now)


def _audit(action, api_key, user, key, ip_address, now) -> None:
    # Kept in English, like every stored value; AuditEvent.actor says it in the reader's language.
    label = user.get_username() if user is not None else f"API key {key.name} ({key.public_id})"
    AuditEvent.objects.create(
        action=action,
        at=now,
        project_id=api_key.project_id,
        api_key=api_key,
        actor_user=user,
        actor_key=key,
        actor_label=label,
        ip_address=ip_address,
    )
