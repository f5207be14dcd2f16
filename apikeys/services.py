"""The one path for creating, revoking and authenticating API keys.

Used by the console, the admin and the API alike, so the rules (what a creator
may grant, the lifetime policy, the deprecation switch, the audit trail) live
in one place.
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext

from apikeys import text, tokens
from apikeys.models import TAG_CHARACTERS, ApiKey, AuditEvent, CreationTicket
from projects import catalog
from projects.backends import project_permissions
from projects.models import Project

MAX_TAGS = 10
MAX_TAG_LENGTH = 32


class ApiKeyError(Exception):
    """A request the rules refuse; `field` names the input at fault, if any.

    Messages are translated when raised (the console shows them, the API
    returns them as `detail`, both in the request's language).
    """

    def __init__(self, message: str, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


# What the console, the admin and the API say when the database fails during a
# create: the transaction rolled back, so nothing was saved and a retry is safe.
TEMPORARY_FAILURE = gettext_lazy(
    "The key could not be created because of a temporary problem. Nothing was saved; please try again."
)


@dataclass(frozen=True)
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
                gettext("Tag “%(tag)s” is not valid: use up to %(max)s letters, digits or - _ . : / =.")
                % {"tag": tag[:40], "max": MAX_TAG_LENGTH},
                field="tags",
            )
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise ApiKeyError(gettext("Use at most %(max)s tags.") % {"max": MAX_TAGS}, field="tags")
    return cleaned


MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 1000


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
    if len(name) > MAX_NAME_LENGTH:
        raise ApiKeyError(
            gettext("The name can be at most %(max)s characters.") % {"max": MAX_NAME_LENGTH}, field="name"
        )
    return name


def clean_description(description) -> str:
    """Like a name, but line breaks and tabs may stay."""
    description = _normalize(description or "", "description", allowed=" \r\n\t")
    description = description.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise ApiKeyError(
            gettext("The description can be at most %(max)s characters.") % {"max": MAX_DESCRIPTION_LENGTH},
            field="description",
        )
    return description


def latest_allowed_expiry(now: datetime, parent_key: ApiKey | None) -> datetime | None:
    candidates = []
    if settings.API_KEY_MAX_LIFETIME_DAYS:
        candidates.append(now + timedelta(days=settings.API_KEY_MAX_LIFETIME_DAYS))
    if parent_key is not None and parent_key.expires_at is not None:
        candidates.append(parent_key.expires_at)
    return min(candidates) if candidates else None


MAX_EXPIRY_YEARS = 100
MAX_EXPIRY = timedelta(days=365 * MAX_EXPIRY_YEARS + MAX_EXPIRY_YEARS // 4)


def _check_expiry(expires_at: datetime | None, now: datetime, parent_key: ApiKey | None) -> datetime | None:
    """The expiry in UTC, if the rules allow it."""
    latest = latest_allowed_expiry(now, parent_key)
    if expires_at is None:
        if settings.API_KEY_REQUIRE_EXPIRY:
            raise ApiKeyError(gettext("An expiration date is required."), field="expires_at")
        if latest is not None:
            raise ApiKeyError(
                gettext("An expiration date is required; the latest allowed is %(latest)s UTC.")
                % {"latest": f"{latest:%Y-%m-%d %H:%M}"},
                field="expires_at",
            )
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
        raise ApiKeyError(
            ngettext(
                "The expiration date can be at most %(years)s year from now.",
                "The expiration date can be at most %(years)s years from now.",
                MAX_EXPIRY_YEARS,
            )
            % {"years": MAX_EXPIRY_YEARS},
            field="expires_at",
        )
    if expires_at <= now:
        raise ApiKeyError(gettext("The expiration date must be in the future."), field="expires_at")
    if latest is not None and expires_at > latest:
        if parent_key is not None and latest == parent_key.expires_at:
            reason = gettext("the key creating it")
        else:
            reason = gettext("policy")
        raise ApiKeyError(
            gettext("The expiration date can be at most %(latest)s UTC (%(reason)s).")
            % {"latest": f"{latest:%Y-%m-%d %H:%M}", "reason": reason},
            field="expires_at",
        )
    return expires_at


# -- writes -----------------------------------------------------------------


def api_key_create(
    *,
    project: Project,
    name: str,
    permissions,
    description: str = "",
    tags=(),
    expires_at: datetime | None = None,
    created_by: AbstractBaseUser | None = None,
    created_by_key: ApiKey | None = None,
    ip_address: str | None = None,
    ticket: str | None = None,
) -> CreatedKey:
    """Create a key and return it with its secret (the only time it exists).

    1. The deprecation switch and the creator's right to create keys.
    2. Every requested permission must be one the creator holds in `project`
       (a user through their role, a key through its own permissions).
    3. The lifetime policy and, for key-created keys, the parent's expiry.
    4. In one transaction: consume the form's one-time ticket (if any),
       insert the key, record the audit event.
    """
    if (created_by is None) == (created_by_key is None):
        raise ValueError("Exactly one of created_by and created_by_key must be given.")
    if reason := creation_disabled_reason():
        raise ApiKeyError(reason, code="creation_disabled")

    now = timezone.now()
    if created_by_key is not None and created_by_key.project_id != project.pk:
        raise ApiKeyError(gettext("A key can only create keys in its own project."), code="forbidden")
    grantable = grantable_permissions(user=created_by, key=created_by_key, project=project)
    if catalog.CREATE_API_KEYS not in grantable:
        raise ApiKeyError(
            gettext("Creating API keys needs the permission %(codename)s.") % {"codename": catalog.CREATE_API_KEYS},
            code="forbidden",
        )

    name = clean_name(name)
    description = clean_description(description)
    tags = clean_tags(tags)
    if isinstance(permissions, str) or not all(isinstance(p, str) for p in permissions):
        raise ApiKeyError(gettext("Permissions must be a list of codenames."), field="permissions")
    requested = list(dict.fromkeys(permissions))
    if not requested:
        raise ApiKeyError(gettext("Choose at least one permission."), field="permissions")
    if unknown := [p for p in requested if p not in catalog.CODENAMES]:
        raise ApiKeyError(
            gettext("Unknown permission: %(codes)s.") % {"codes": ", ".join(sorted(unknown))[:300]},
            field="permissions",
        )
    if not_held := [p for p in requested if p not in grantable]:
        raise ApiKeyError(
            gettext("You cannot grant permissions you do not hold in this project: %(codes)s.")
            % {"codes": ", ".join(sorted(not_held))},
            field="permissions",
            code="forbidden",
        )
    expires_at = _check_expiry(expires_at, now, created_by_key)
    # Catalog order, so that equal sets always look the same.
    ordered = [p.codename for p in catalog.CATALOG if p.codename in requested]

    generated = tokens.generate()
    pepper_version = tokens.current_pepper_version()
    try:
        with transaction.atomic():
            if ticket is not None and not _consume_ticket(ticket, created_by, now):
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
            if created_by_key is not None:
                _check_acting_key(created_by_key)
            if _name_taken(project, name, now):
                raise ApiKeyError(
                    gettext("An active API key with this name already exists in this project."), field="name"
                )
            api_key = ApiKey.objects.create(
                public_id=generated.public_id,
                secret_hash=tokens.hash_key(generated.raw, pepper_version),
                pepper_version=pepper_version,
                last4=tokens.last_four(generated.raw),
                project=project,
                name=name,
                description=description,
                tags=tags,
                permissions=ordered,
                expires_at=expires_at,
                created_at=now,
                created_by=created_by,
                created_by_key=created_by_key,
            )
            _audit(AuditEvent.Action.CREATED, api_key, created_by, created_by_key, ip_address, now)
    except IntegrityError:
        # Lost a race for the name with a parallel request.
        raise ApiKeyError(
            gettext("An active API key with this name already exists in this project."), field="name"
        ) from None
    return CreatedKey(api_key=api_key, secret=generated.raw)


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
    2. Keys that this key created over the API cannot outlive it (SPEC §5):
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
            parents = [api_key.pk]
            while parents:
                children = list(ApiKey.objects.filter(created_by_key_id__in=parents, revoked_at__isnull=True))
                ApiKey.objects.filter(pk__in=[c.pk for c in children], revoked_at__isnull=True).update(
                    revoked_at=now, revoked_by=revoked_by, revoked_by_key=revoked_by_key
                )
                for child in children:
                    _audit(AuditEvent.Action.REVOKED, child, revoked_by, revoked_by_key, ip_address, now)
                parents = [c.pk for c in children]
    if changed:
        api_key.revoked_at, api_key.revoked_by, api_key.revoked_by_key = now, revoked_by, revoked_by_key
    else:
        api_key.refresh_from_db(fields=["revoked_at", "revoked_by", "revoked_by_key"])
    return bool(changed)


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


def _check_acting_key(api_key: ApiKey) -> None:
    """Inside the writing transaction: is the key that authorizes it still usable?

    Read again, after the project lock, because authentication happened
    before the transaction started.
    """
    state = ApiKey.objects.filter(pk=api_key.pk).values("revoked_at", "expires_at").first()
    now = timezone.now()
    if state is None or state["revoked_at"] is not None:
        raise ApiKeyError(gettext("The API key has been revoked."), code="key_revoked")
    if state["expires_at"] is not None and state["expires_at"] <= now:
        raise ApiKeyError(gettext("The API key has expired."), code="key_expired")


def issue_ticket(*, user: AbstractBaseUser) -> str:
    """A one-time token for one rendering of the create form."""
    now = timezone.now()
    # Unused tickets are worthless after a day; keep the table small.
    CreationTicket.objects.filter(user=user, created_at__lt=now - timedelta(days=1)).delete()
    token = secrets.token_urlsafe(32)
    CreationTicket.objects.create(token=token, user=user, created_at=now)
    return token


def _consume_ticket(token: str, user, now: datetime) -> bool:
    # A conditional UPDATE takes the row lock: of several parallel posts of
    # one form, exactly one sees used_at still empty.
    return bool(
        CreationTicket.objects.filter(token=token, user=user, used_at__isnull=True).update(used_at=now)
    )


def _audit(action, api_key, user, key, ip_address, now) -> None:
    if user is not None:
        label = user.get_username()
    else:
        label = f"API key {key.name} ({key.public_id})"
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


# -- authentication -----------------------------------------------------------


@dataclass(frozen=True)
class AuthResult:
    api_key: ApiKey | None
    error: str | None = None  # "invalid", "expired" or "revoked"

    @property
    def ok(self) -> bool:
        return self.api_key is not None


LAST_USED_INTERVAL = timedelta(minutes=1)


def api_key_authenticate(raw: str, *, now: datetime | None = None) -> AuthResult:
    """Who a presented key is, or why it is refused.

    1. Parse: shape and checksum. A malformed key costs no query.
    2. One indexed query by public id, with the project joined.
    3. Constant-time comparison of the keyed hash against the row's raw
       columns, before anything is built from the row: an unknown id and a
       wrong secret cost the same work (one query, one HMAC) and get the same
       answer ("invalid"), so neither answer nor timing tells ids apart.
    4. Only now, to a caller who proved the secret: revoked or expired.
    5. Record last use, at most once a minute, with one conditional UPDATE.
    """
    try:
        parsed = tokens.parse(raw)
    except tokens.InvalidKey:
        return AuthResult(None, "invalid")
    query = _authentication_query()
    row = query.fetch(parsed.public_id)
    if row is None:
        tokens.matches(parsed.raw, tokens.current_pepper_version(), UNKNOWN_KEY_HASH)
        return AuthResult(None, "invalid")
    if not tokens.matches(parsed.raw, row[query.pepper_column], row[query.hash_column]):
        return AuthResult(None, "invalid")
    api_key = query.build(row)
    now = now or timezone.now()
    if api_key.revoked_at is not None:
        return AuthResult(None, "revoked")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        return AuthResult(None, "expired")
    touch_last_used(api_key, now)
    return AuthResult(api_key)


# Compared against when no key has the presented id: the same HMAC and
# comparison as for a real row, and never equal to a hex digest.
UNKNOWN_KEY_HASH = "-" * 64


class _AuthenticationQuery:
    """The key with its project, by public id: one indexed query, compiled once.

    Turning the ORM query into SQL costs more than running it, and this is
    the hot path of every API call, so the SQL is built once per database
    alias and rows are turned into instances by the converters the ORM would
    apply, and only for a key whose secret matched.
    """

    def __init__(self, alias: str):
        connection = connections[alias]
        query = ApiKey.objects.using(alias).select_related("project").filter(public_id="").order_by()[:1].query
        self.sql, params = query.get_compiler(alias).as_sql()
        if params != ("",):
            raise RuntimeError("The authentication query must take exactly one parameter.")
        self.alias = alias
        attnames = [f.attname for f in ApiKey._meta.concrete_fields]
        self.hash_column = attnames.index("secret_hash")
        self.pepper_column = attnames.index("pepper_version")
        self._read_key = _row_reader(connection, ApiKey)
        self._read_project = _row_reader(connection, Project)

    def fetch(self, public_id: str):
        with connections[self.alias].cursor() as cursor:
            cursor.execute(self.sql, [public_id])
            return cursor.fetchone()

    def build(self, row) -> ApiKey:
        connection = connections[self.alias]
        api_key, rest = self._read_key(connection, self.alias, row)
        api_key.project, _ = self._read_project(connection, self.alias, rest)
        return api_key


_AUTH_QUERIES: dict[str, _AuthenticationQuery] = {}


def _authentication_query() -> _AuthenticationQuery:
    alias = router.db_for_read(ApiKey)
    query = _AUTH_QUERIES.get(alias)
    if query is None:
        query = _AUTH_QUERIES[alias] = _AuthenticationQuery(alias)
    return query


def _row_reader(connection, model):
    """Builds instances from raw columns through the converters the ORM would apply.

    Converters depend on the backend only; `connection` at read time is the
    calling thread's own.
    """
    fields = model._meta.concrete_fields
    attnames = [f.attname for f in fields]
    converters = []
    for field in fields:
        expression = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
        converters.append((expression, found))

    def read(connection, alias, row):
        values = []
        for value, (expression, found) in zip(row, converters):
            for converter in found:
                value = converter(value, expression, connection)
            values.append(value)
        return model.from_db(alias, attnames, values), row[len(fields) :]

    return read


def touch_last_used(api_key: ApiKey, now: datetime) -> None:
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_INTERVAL:
        return
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_INTERVAL)
    ).update(last_used_at=now)
    api_key.last_used_at = now
