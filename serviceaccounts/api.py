"""The organization API under /api/v1/orgs/<slug>/ (SPEC §8): service accounts, memberships, credentials.

Authenticated by a service account's credential whose account holds the
organization role Admin, bound by the same rules as a human Admin
(serviceaccounts.services): it cannot grant or mint more than its own
account holds. An organization other than the credential's own is 404,
existing or not; an API key is refused (keys and service accounts do not
mint each other).
"""

from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpRequest, JsonResponse
from django.urls import reverse

from apikeys import schema
from apikeys.errors import ApiKeyError
from apikeys.jsonapi import ApiError, api_view, created_with_secret, field, iso, json_body, paginated, service_error
from apikeys.models import ApiKey
from config.http import client_ip
from projects.models import Organization, OrganizationRole, Project
from serviceaccounts import services
from serviceaccounts.models import Credential, ServiceAccount, ServiceAccountMembership


def whoami_body(credential: Credential) -> dict:
    """`whoami` for a credential: its account, organization, the credential, and the account's projects now."""
    account = credential.service_account
    return {
        "type": "service_account",
        "id": account.public_id,
        "name": account.name,
        "organization": account.organization.slug,
        "credential": {"id": credential.public_id, "name": credential.name, "expires_at": iso(credential.expires_at)},
        "projects": [
            {"slug": slug, "permissions": list(permissions)}
            for slug, permissions in account.memberships.order_by("project__slug").values_list(
                "project__slug", "permissions"
            )
        ],
    }


def serialize_account(account: ServiceAccount) -> dict:
    if account.created_by_credential_id:
        created_by = {"type": "credential", "id": account.created_by_credential.public_id}
    elif account.created_by_id:
        created_by = {"type": "user", "username": account.created_by.get_username()}
    else:
        created_by = None
    return {
        "id": account.public_id,
        "name": account.name,
        "description": account.description,
        "organization": account.organization.slug,
        "organization_role": account.organization_role.name if account.organization_role_id else None,
        "state": account.state,
        "created_at": iso(account.created_at),
        "created_by": created_by,
        "disabled_at": iso(account.disabled_at),
        "deleted_at": iso(account.deleted_at),
        "projects": [
            {"slug": membership.project.slug, "permissions": list(membership.permissions)}
            for membership in sorted(account.memberships.all(), key=lambda membership: membership.project.slug)
        ],
    }


# What serialize_account reads besides the account's own row.
ACCOUNT_RELATIONS = ("organization", "organization_role", "created_by", "created_by_credential")
ACCOUNT_PREFETCH = (Prefetch("memberships", queryset=ServiceAccountMembership.objects.select_related("project")),)


def serialize_credential(credential: Credential) -> dict:
    return {
        "id": credential.public_id,
        "name": credential.name,
        "masked_key": credential.masked,
        "status": credential.status().value,
        "expires_at": iso(credential.expires_at),
        "allowed_ips": list(credential.allowed_ips),
        "created_at": iso(credential.created_at),
        "last_used_at": iso(credential.last_used_at),
        "last_used_ip": credential.last_used_ip,
        "last_used_user_agent": credential.last_used_user_agent or None,
        "revoked_at": iso(credential.revoked_at),
    }


# -- access ------------------------------------------------------------------------------


def _organization(caller, slug: str) -> Organization:
    """The organization under `slug`, if the caller may manage its service accounts.

    1. An API key: 403 (keys do not manage service accounts).
    2. Another organization than the credential's own, existing or not: 404.
    3. A credential whose account lacks the organization role Admin: 403.
    """
    if isinstance(caller, ApiKey):
        raise ApiError(
            403,
            "forbidden",
            "API keys cannot manage service accounts: use a credential of a service account with the "
            "organization role Admin.",
        )
    organization = caller.service_account.organization
    if slug != organization.slug:
        raise ApiError(404, "not_found", "No such organization.")
    if not caller.service_account.is_org_admin:
        raise ApiError(
            403,
            "forbidden",
            "This service account needs the organization role Admin to manage the organization's service accounts.",
        )
    return organization


def _actor(request: HttpRequest, caller) -> services.Actor:
    return services.Actor(credential=caller, ip_address=client_ip(request))


def _account_of(organization: Organization, public_id: str) -> ServiceAccount:
    account = (
        ServiceAccount.objects.select_related(
            "organization", "organization_role", "created_by", "created_by_credential"
        )
        .filter(organization=organization, public_id=public_id)
        .first()
    )
    if account is None:
        raise ApiError(404, "not_found", "No such service account in this organization.")
    return account


def _only(data: dict, allowed: frozenset) -> None:
    if unknown := sorted(set(data) - allowed):
        raise ApiError(400, "invalid_field", f"Unknown field: {', '.join(unknown)[:200]}.")


def _call(function, *args, **kwargs):
    """A service call, its refusal answered as the API answers every refusal."""
    try:
        return function(*args, **kwargs)
    except ApiKeyError as error:
        raise service_error(error) from None


# -- endpoints ---------------------------------------------------------------------------

ACCOUNT_FIELDS = frozenset({"name", "description"})
PATCH_FIELDS = frozenset({"name", "description", "disabled", "organization_role"})
MEMBERSHIP_FIELDS = frozenset({"permissions"})
CREDENTIAL_FIELDS = frozenset({"name", "expires_at", "allowed_ips"})


@api_view("GET", "POST")
def account_collection(request: HttpRequest, caller, slug: str):
    organization = _organization(caller, slug)
    if request.method == "POST":
        data = json_body(request)
        _only(data, ACCOUNT_FIELDS)
        account = _call(
            services.create_service_account,
            organization=organization,
            name=field(data, "name", str, "", required=True),
            description=field(data, "description", str, ""),
            actor=_actor(request, caller),
        )
        return JsonResponse(serialize_account(account), status=201)
    accounts = (
        ServiceAccount.objects.undeleted()
        .filter(organization=organization)
        .select_related(*ACCOUNT_RELATIONS)
        .prefetch_related(*ACCOUNT_PREFETCH)
    )
    return paginated(request, accounts, reverse("api:service-accounts", args=[slug]), serialize_account)


@api_view("GET", "PATCH", "DELETE")
def account_detail(request: HttpRequest, caller, slug: str, account_id: str):
    organization = _organization(caller, slug)
    account = _account_of(organization, account_id)
    actor = _actor(request, caller)
    if request.method == "PATCH":
        data = json_body(request)
        _only(data, PATCH_FIELDS)
        changes = {name: field(data, name, str, None) for name in ("name", "description") if name in data}
        if "organization_role" in data:
            wanted = data["organization_role"]
            changes["organization_role"] = None if wanted is None else _role(field(data, "organization_role", str, ""))
        if "disabled" in data and not isinstance(data["disabled"], bool):
            raise ApiError(400, "invalid_field", "'disabled' must be true or false.")
        with transaction.atomic():  # all of the PATCH, or none of it
            if changes:
                account = _call(services.update_service_account, account, actor=actor, **changes)
            if "disabled" in data:
                _call(services.set_disabled, account, data["disabled"], actor=actor)
        account = _account_of(organization, account_id)
    elif request.method == "DELETE":
        _call(services.delete_service_account, account, actor=actor)
        account = _account_of(organization, account_id)
    return JsonResponse(serialize_account(account))


def _role(name: str) -> OrganizationRole:
    role = OrganizationRole.objects.filter(name=name).first()
    if role is None:
        raise ApiError(400, "invalid_field", "'organization_role' must be the name of an organization role, or null.")
    return role


@api_view("PUT", "DELETE")
def account_membership(request: HttpRequest, caller, slug: str, account_id: str, project_slug: str):
    organization = _organization(caller, slug)
    account = _account_of(organization, account_id)
    project = Project.objects.filter(organization=organization, slug=project_slug).first()
    if project is None:
        raise ApiError(404, "not_found", "No such project in this organization.")
    actor = _actor(request, caller)
    if request.method == "PUT":
        data = json_body(request)
        _only(data, MEMBERSHIP_FIELDS)
        permissions = field(data, "permissions", list, [], required=True)
        membership = _call(services.set_membership, account, project=project, permissions=permissions, actor=actor)
        return JsonResponse({"slug": project.slug, "permissions": list(membership.permissions)})
    if not _call(services.remove_membership, account, project=project, actor=actor):
        raise ApiError(404, "not_found", "The service account is not a member of this project.")
    return JsonResponse(serialize_account(_account_of(organization, account_id)))


@api_view("GET", "POST")
def credential_collection(request: HttpRequest, caller, slug: str, account_id: str):
    organization = _organization(caller, slug)
    account = _account_of(organization, account_id)
    if request.method == "GET":
        url = reverse("api:credentials", args=[slug, account_id])
        return paginated(request, account.credentials.all(), url, serialize_credential)
    data = json_body(request)
    _only(data, CREDENTIAL_FIELDS)
    raw_expiry = data.get("expires_at")
    if raw_expiry is not None and not isinstance(raw_expiry, str):
        raise ApiError(400, "invalid_field", "'expires_at' must be an ISO 8601 date-time or null.")
    created = _call(
        lambda: services.create_credential(
            account,
            name=field(data, "name", str, "", required=True),
            expires_at=schema.expiry_from_text(raw_expiry) if raw_expiry is not None else None,
            allowed_ips=field(data, "allowed_ips", list, []),
            actor=_actor(request, caller),
        )
    )
    return created_with_secret(serialize_credential(created.credential), created.secret)


@api_view("POST")
def credential_revoke(request: HttpRequest, caller, slug: str, account_id: str, public_id: str):
    organization = _organization(caller, slug)
    account = _account_of(organization, account_id)
    credential = account.credentials.filter(public_id=public_id).first()
    if credential is None:
        raise ApiError(404, "not_found", "No such credential of this service account.")
    credential.service_account = account
    _call(services.revoke_credential, credential, actor=_actor(request, caller))
    return JsonResponse(serialize_credential(credential))
