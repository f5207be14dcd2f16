"""The programmatic JSON API under /api/v1/, authenticated by bearer keys only.

The endpoints; their plumbing (errors, authentication, method checks, JSON
bodies, serialization) is apikeys.jsonapi.
"""

from datetime import timedelta

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

import serviceaccounts.api
from apikeys import schema, services
from apikeys.errors import ApiKeyError
from apikeys.jsonapi import (
    ANY_METHOD,
    SERIALIZED_RELATIONS,
    ApiError,
    api_view,
    created_with_secret,
    field,
    iso,
    json_body,
    method_not_allowed,
    own_project,
    paginated,
    refuse_credentials,
    require,
    serialize_key,
    service_error,
    with_head,
)
from apikeys.models import ApiKey
from apikeys.openapi import document
from config.http import client_ip
from projects import catalog

CREATE_FIELDS = frozenset({"name", "description", "tags", "permissions", "expires_at", "allowed_ips"})


# -- endpoints -------------------------------------------------------------------


@api_view("GET")
def whoami(request: HttpRequest, caller):
    """The calling key or credential; with `?permission=<codename>`, 403 naming it unless the caller holds it.

    Other services ask "may this key do X?" this way: the answer counts as a
    use of that permission, or a refused attempt (apikeys.usage). A
    credential's permissions are per project, so it is asked with
    `&project=<slug>` too.
    """
    if "permission" in request.GET:
        asked = request.GET.getlist("permission")
        if len(asked) != 1:
            raise ApiError(400, "invalid_parameter", "Ask for one permission per call: '?permission=<codename>'.")
        if asked[0] not in catalog.CODENAMES:
            raise ApiError(400, "invalid_parameter", f"Unknown permission: {asked[0][:100]}.")
        if not isinstance(caller, ApiKey):
            slugs = request.GET.getlist("project")
            if len(slugs) != 1:
                raise ApiError(
                    400,
                    "invalid_parameter",
                    "A service account's permissions are per project: ask with "
                    "'?permission=<codename>&project=<slug>'.",
                )
            own_project(caller, slugs[0])
        require(caller, asked[0])
    if not isinstance(caller, ApiKey):
        return JsonResponse(serviceaccounts.api.whoami_body(caller))
    return JsonResponse(
        {
            "type": "api_key",
            "id": caller.public_id,
            "name": caller.name,
            "project": caller.project.slug,
            "permissions": list(caller.permissions),
            "tags": list(caller.tags),
            "expires_at": iso(caller.expires_at),
        }
    )


@api_view("GET")
def project_detail(request: HttpRequest, caller, slug: str):
    project = own_project(caller, slug)
    require(caller, catalog.READ_PROJECT)
    return JsonResponse(
        {
            "slug": project.slug,
            "name": project.name,
            "description": project.description,
            "created_at": iso(project.created_at),
        }
    )


@api_view("GET", "POST")
def key_collection(request: HttpRequest, caller, slug: str):
    project = own_project(caller, slug)
    if request.method == "POST":
        refuse_credentials(caller, "create")
    require(caller, catalog.CREATE_API_KEYS)
    if request.method == "POST":
        return _create_key(request, caller, project)
    keys = ApiKey.objects.filter(project=project).select_related(*SERIALIZED_RELATIONS)
    return paginated(request, keys, reverse("api:keys", args=[project.slug]), serialize_key)


def _create_key(request: HttpRequest, api_key: ApiKey, project):
    data = json_body(request)
    if unknown := sorted(set(data) - CREATE_FIELDS):
        raise ApiError(400, "invalid_field", f"Unknown field: {', '.join(unknown)[:200]}.")
    name = field(data, "name", str, "", required=True)
    description = field(data, "description", str, "")
    tags = field(data, "tags", list, [])
    permissions = field(data, "permissions", list, [], required=True)
    allowed_ips = field(data, "allowed_ips", list, [])
    raw_expiry = data.get("expires_at")
    if raw_expiry is not None and not isinstance(raw_expiry, str):
        raise ApiError(400, "invalid_field", "'expires_at' must be an ISO 8601 date-time or null.")
    try:
        created = services.api_key_create(
            project=project,
            name=name,
            description=description,
            tags=tags,
            permissions=permissions,
            expires_at=schema.expiry_from_text(raw_expiry) if raw_expiry is not None else None,
            allowed_ips=allowed_ips,
            created_by_key=api_key,
            ip_address=client_ip(request),
        )
    except ApiKeyError as error:
        raise service_error(error) from None
    return created_with_secret(serialize_key(created.api_key), created.secret)


@api_view("POST")
def key_revoke(request: HttpRequest, api_key, slug: str, public_id: str):
    project = own_project(api_key, slug)
    refuse_credentials(api_key, "revoke")
    require(api_key, catalog.CREATE_API_KEYS)
    target = _key_of(project, public_id)
    try:
        services.api_key_revoke(api_key=target, revoked_by_key=api_key, ip_address=client_ip(request))
    except ApiKeyError as error:
        raise service_error(error) from None
    return JsonResponse(serialize_key(target))


ROLL_FIELDS = frozenset({"grace_seconds"})


@api_view("POST")
def key_roll(request: HttpRequest, api_key, slug: str, public_id: str):
    """A successor with a new secret (201, the secret once); the old key works `grace_seconds` longer."""
    project = own_project(api_key, slug)
    refuse_credentials(api_key, "roll")
    require(api_key, catalog.CREATE_API_KEYS)
    data = json_body(request)
    if unknown := sorted(set(data) - ROLL_FIELDS):
        raise ApiError(400, "invalid_field", f"Unknown field: {', '.join(unknown)[:200]}.")
    grace = data.get("grace_seconds")
    if isinstance(grace, bool) or not isinstance(grace, int):
        raise ApiError(400, "invalid_field", "'grace_seconds' is required: a whole number of seconds, 0 to 604800.")
    if not 0 <= grace <= services.MAX_GRACE.total_seconds():
        raise ApiError(400, "invalid_field", "'grace_seconds' must be between 0 and 604800 (7 days).")
    target = _key_of(project, public_id)
    try:
        created = services.api_key_roll(
            api_key=target, grace=timedelta(seconds=grace), rolled_by_key=api_key, ip_address=client_ip(request)
        )
    except ApiKeyError as error:
        raise service_error(error) from None
    successor = ApiKey.objects.select_related(*SERIALIZED_RELATIONS).get(pk=created.api_key.pk)
    return created_with_secret(serialize_key(successor), created.secret)


def _key_of(project, public_id: str) -> ApiKey:
    """A key of the caller's own project by its id (never one of another project under this slug), or 404."""
    target = ApiKey.objects.select_related(*SERIALIZED_RELATIONS).filter(project=project, public_id=public_id).first()
    if target is None:
        raise ApiError(404, "not_found", "No such API key in this project.")
    return target


@login_not_required
@csrf_exempt  # no cookie credential is ever read here, and it only answers GET
def openapi(request: HttpRequest):
    if (response := method_not_allowed(request, with_head(["GET"]))) is not None:
        return response
    return JsonResponse(document(request.build_absolute_uri("/api/v1")))


@api_view(ANY_METHOD)
def not_found(request: HttpRequest, caller, *args, **kwargs):
    """Any other URL under /api/: JSON like every API answer, never the console's HTML 404.

    Authenticated first, like every endpoint, so that an unroutable slug
    (say "a.b") answers 401 to a caller without a key, as "demo" does.
    """
    raise ApiError(404, "not_found", "No such API endpoint.")
