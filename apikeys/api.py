"""The programmatic JSON API under /api/v1/, authenticated by bearer keys only.

These views never read the session cookie: `request.user` is not touched and
the only credential is the `Authorization` header, which a browser never sends
on its own to another site. That is why they are CSRF-exempt: CSRF is an
attack on ambient (cookie) credentials, and there are none here.
"""

import json
import logging
import math
import time
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import EmptyPage, Paginator
from django.db import DatabaseError, InterfaceError
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from apikeys import services
from apikeys.models import ApiKey
from apikeys.openapi import document
from config import ratelimit
from config.http import client_ip
from projects import catalog

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
CREATE_FIELDS = frozenset({"name", "description", "tags", "permissions", "expires_at"})


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers or {}


def error_response(status: int, error: str, detail: str, headers: dict | None = None) -> JsonResponse:
    response = JsonResponse({"error": error, "detail": detail}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


REVOKED = "The API key has been revoked."
EXPIRED = "The API key has expired."


def _unauthorized(detail: str) -> ApiError:
    return ApiError(
        401,
        "invalid_token",
        detail,
        {"WWW-Authenticate": f'Bearer realm="api", error="invalid_token", error_description="{detail}"'},
    )


# -- rate limiting of failed authentications ----------------------------------


def _failure_cache_key(ip: str | None) -> str:
    return f"apikeys:auth-failures:{ip or 'unknown'}"


# Addresses this process saw go over the shared limit, until when (monotonic
# seconds). A client over the limit is refused before its key is looked up or
# hashed, without asking the cache: valid clients keep paying nothing for the
# limiter, and a flood of guesses costs a dictionary lookup per request. Each
# process learns an address on its first refused failure, so the shared
# counter stays the authority; bounded, so many addresses cannot grow it.
_tripped: dict[str, float] = {}
MAX_TRIPPED_ADDRESSES = 10_000


def _tripped_retry_after(ip: str | None) -> int | None:
    until = _tripped.get(ip or "unknown")
    if until is None:
        return None
    left = until - time.monotonic()
    if left <= 0:
        _tripped.pop(ip or "unknown", None)
        return None
    return max(1, math.ceil(left))


def _remember_tripped(ip: str | None) -> None:
    now = time.monotonic()
    if len(_tripped) >= MAX_TRIPPED_ADDRESSES:
        for address in [a for a, until in _tripped.items() if until <= now]:
            del _tripped[address]
        while len(_tripped) >= MAX_TRIPPED_ADDRESSES:
            del _tripped[next(iter(_tripped))]  # the oldest entry
    _tripped[ip or "unknown"] = now + settings.API_AUTH_FAILURE_WINDOW_SECONDS


def _record_failure(ip: str | None) -> int:
    """Count a failed authentication in the client's current window.

    If the cache is down the limiter fails open (0): the request is still
    refused with 401, and valid keys never depend on the cache.
    """
    return ratelimit.record(_failure_cache_key(ip), settings.API_AUTH_FAILURE_WINDOW_SECONDS)


def _too_many_failures(retry_after: int | None = None) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        "Too many failed authentications from this address. Try again later.",
        {"Retry-After": str(retry_after or settings.API_AUTH_FAILURE_WINDOW_SECONDS)},
    )


def authenticate(request: HttpRequest) -> ApiKey:
    """The key behind the request's bearer token, or an ApiError.

    1. An address that went over the failure limit is refused at once (429),
       before any lookup or hash.
    2. Read `Authorization: Bearer <key>`; nothing else is a credential.
    3. `services.api_key_authenticate` parses (a bad checksum costs no
       query), loads the key with one indexed query, compares in constant time.
    4. A failure counts against the client's address; past the limit, 429.
       A client whose keys are right never touches the counter.
    5. "Expired" and "revoked" are told only to callers who proved the secret;
       an unknown key and a wrong secret get the same answer.
    """
    ip = client_ip(request)
    if _tripped and (retry_after := _tripped_retry_after(ip)):
        raise _too_many_failures(retry_after)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    result = None
    if scheme.lower() == "bearer" and token.strip():
        result = services.api_key_authenticate(token.strip())
        if result.ok:
            request.api_key = result.api_key
            return result.api_key
    if _record_failure(ip) > settings.API_AUTH_FAILURE_LIMIT:
        _remember_tripped(ip)
        raise _too_many_failures()
    if result is None:
        raise _unauthorized("Send the API key as 'Authorization: Bearer <key>'.")
    if result.error == "revoked":
        raise _unauthorized(REVOKED)
    if result.error == "expired":
        raise _unauthorized(EXPIRED)
    raise _unauthorized("The API key is not valid.")


ANY_METHOD = None


def api_view(*methods: str):
    """Method check, bearer authentication and JSON errors for an API view.

    A GET endpoint answers HEAD too (monitors and load balancers use it);
    any other method gets a JSON 405 naming the allowed ones in `Allow`.
    `api_view(ANY_METHOD)` serves every method.
    """
    allowed = None if methods == (ANY_METHOD,) else _with_head(methods)

    def decorator(view):
        @login_not_required
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if (response := method_not_allowed(request, allowed)) is not None:
                return response
            try:
                api_key = authenticate(request)
                return view(request, api_key, *args, **kwargs)
            except ApiError as error:
                return error_response(error.status, error.error, error.detail, error.headers)

        return wrapper

    return decorator


def _with_head(methods) -> tuple[str, ...]:
    return (*methods, "HEAD") if "GET" in methods and "HEAD" not in methods else tuple(methods)


def method_not_allowed(request: HttpRequest, allowed) -> JsonResponse | None:
    if allowed is None or request.method in allowed:
        return None
    response = error_response(405, "method_not_allowed", f"Use {' or '.join(allowed)} on this URL.")
    response["Allow"] = ", ".join(allowed)
    return response


# -- helpers --------------------------------------------------------------------


def _require(api_key: ApiKey, codename: str) -> None:
    if codename not in api_key.permissions:
        raise ApiError(403, "permission_denied", f"The API key lacks the permission {codename}.")


def _own_project(api_key: ApiKey, slug: str):
    """A key sees only its own project; any other slug is 404, existing or not."""
    if slug != api_key.project.slug:
        raise ApiError(404, "not_found", "No such project.")
    return api_key.project


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def serialize_key(api_key: ApiKey) -> dict:
    if api_key.created_by_key_id:
        created_by = {"type": "api_key", "id": api_key.created_by_key.public_id}
    elif api_key.created_by_id:
        created_by = {"type": "user", "username": api_key.created_by.get_username()}
    else:
        created_by = None
    return {
        "id": api_key.public_id,
        "name": api_key.name,
        "description": api_key.description,
        "tags": list(api_key.tags),
        "permissions": list(api_key.permissions),
        "masked_key": api_key.masked,
        "status": api_key.status().value,
        "expires_at": _iso(api_key.expires_at),
        "created_at": _iso(api_key.created_at),
        "created_by": created_by,
        "last_used_at": _iso(api_key.last_used_at),
        "revoked_at": _iso(api_key.revoked_at),
    }


def _json_body(request: HttpRequest) -> dict:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "bad_request", "Content-Length is not a number.") from None
    if length > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"The body can be at most {MAX_BODY_BYTES} bytes.")
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"The body can be at most {MAX_BODY_BYTES} bytes.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deeply
        raise ApiError(400, "bad_request", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "The body must be a JSON object.")
    return data


def _storable(text: str) -> bool:
    """No NUL and no lone surrogate (a JSON "\\ud800" escape): databases refuse both."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _field(data: dict, name: str, kind, default, required: bool = False):
    if name not in data:
        if required:
            raise ApiError(400, "invalid_field", f"'{name}' is required.")
        return default
    value = data[name]
    if kind is list:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ApiError(400, "invalid_field", f"'{name}' must be a list of strings.")
    elif not isinstance(value, kind):
        raise ApiError(400, "invalid_field", f"'{name}' must be a {kind.__name__}.")
    if not all(_storable(text) for text in (value if kind is list else [value])):
        raise ApiError(400, "invalid_field", f"'{name}' contains a character that is not allowed.")
    return value


# -- endpoints -------------------------------------------------------------------


@api_view("GET")
def whoami(request: HttpRequest, api_key: ApiKey):
    return JsonResponse(
        {
            "id": api_key.public_id,
            "name": api_key.name,
            "project": api_key.project.slug,
            "permissions": list(api_key.permissions),
            "tags": list(api_key.tags),
            "expires_at": _iso(api_key.expires_at),
        }
    )


@api_view("GET")
def project_detail(request: HttpRequest, api_key: ApiKey, slug: str):
    project = _own_project(api_key, slug)
    _require(api_key, catalog.READ_PROJECT)
    return JsonResponse(
        {
            "slug": project.slug,
            "name": project.name,
            "description": project.description,
            "created_at": _iso(project.created_at),
        }
    )


@api_view("GET", "POST")
def key_collection(request: HttpRequest, api_key: ApiKey, slug: str):
    project = _own_project(api_key, slug)
    _require(api_key, catalog.CREATE_API_KEYS)
    if request.method == "POST":
        return _create_key(request, api_key, project)
    try:
        page_number = int(request.GET.get("page", "1"))
    except ValueError:
        raise ApiError(400, "invalid_parameter", "'page' must be a whole number.") from None
    keys = ApiKey.objects.filter(project=project).select_related("created_by", "created_by_key")
    paginator = Paginator(keys, per_page=settings.API_KEYS_PER_PAGE)
    try:
        page = paginator.page(page_number)
    except EmptyPage:
        raise ApiError(404, "not_found", "No such page.") from None
    base = request.build_absolute_uri(reverse("api:keys", args=[project.slug]))
    return JsonResponse(
        {
            "count": paginator.count,
            "page": page.number,
            "pages": paginator.num_pages,
            "next": f"{base}?page={page.number + 1}" if page.has_next() else None,
            "previous": f"{base}?page={page.number - 1}" if page.has_previous() else None,
            "results": [serialize_key(k) for k in page.object_list],
        }
    )


def _create_key(request: HttpRequest, api_key: ApiKey, project):
    data = _json_body(request)
    if unknown := sorted(set(data) - CREATE_FIELDS):
        raise ApiError(400, "invalid_field", f"Unknown field: {', '.join(unknown)[:200]}.")
    name = _field(data, "name", str, "", required=True)
    description = _field(data, "description", str, "")
    tags = _field(data, "tags", list, [])
    permissions = _field(data, "permissions", list, [], required=True)
    raw_expiry = data.get("expires_at")
    expires_at = None
    if raw_expiry is not None:
        if not isinstance(raw_expiry, str):
            raise ApiError(400, "invalid_field", "'expires_at' must be an ISO 8601 date-time or null.")
        try:
            expires_at = parse_datetime(raw_expiry)
        except ValueError:
            expires_at = None
        if expires_at is None:
            raise ApiError(400, "invalid_field", "'expires_at' must be an ISO 8601 date-time or null.")
        if expires_at.tzinfo is None:
            raise ApiError(400, "invalid_field", "'expires_at' needs a time zone, for example 2030-01-31T00:00:00Z.")
    try:
        created = services.api_key_create(
            project=project,
            name=name,
            description=description,
            tags=tags,
            permissions=permissions,
            expires_at=expires_at,
            created_by_key=api_key,
            ip_address=client_ip(request),
        )
    except services.ApiKeyError as error:
        raise _service_error(error) from None
    except (DatabaseError, InterfaceError):  # InterfaceError: the connection was lost
        # The service's transaction rolled back: nothing was saved, a retry is safe.
        logger.exception("Creating an API key failed in the database; nothing was saved.")
        raise ApiError(
            503,
            "unavailable",
            str(services.TEMPORARY_FAILURE),
            {"Retry-After": "5"},
        ) from None
    body = serialize_key(created.api_key)
    body["secret"] = created.secret
    response = JsonResponse(body, status=201)
    response["Cache-Control"] = "no-store"
    return response


@api_view("POST")
def key_revoke(request: HttpRequest, api_key: ApiKey, slug: str, public_id: str):
    project = _own_project(api_key, slug)
    _require(api_key, catalog.CREATE_API_KEYS)
    target = ApiKey.objects.select_related("created_by", "created_by_key").filter(
        project=project, public_id=public_id
    ).first()
    if target is None:
        raise ApiError(404, "not_found", "No such API key in this project.")
    try:
        services.api_key_revoke(api_key=target, revoked_by_key=api_key, ip_address=client_ip(request))
    except services.ApiKeyError as error:
        raise _service_error(error) from None
    return JsonResponse(serialize_key(target))


def _service_error(error: services.ApiKeyError) -> ApiError:
    # The calling key was revoked or expired between authentication and the write.
    if error.code == "key_revoked":
        return _unauthorized(REVOKED)
    if error.code == "key_expired":
        return _unauthorized(EXPIRED)
    status = 403 if error.code in {"forbidden", "creation_disabled"} else 400
    return ApiError(status, error.code if error.code != "invalid" else "invalid_field", error.message)


@login_not_required
@csrf_exempt  # no cookie credential is ever read here, and it only answers GET
def openapi(request: HttpRequest):
    if (response := method_not_allowed(request, _with_head(["GET"]))) is not None:
        return response
    return JsonResponse(document(request.build_absolute_uri("/api/v1")))


@api_view(ANY_METHOD)
def not_found(request: HttpRequest, api_key: ApiKey, *args, **kwargs):
    """Any other URL under /api/: JSON like every API answer, never the console's HTML 404.

    Authenticated first, like every endpoint, so that an unroutable slug
    (say "a.b") answers 401 to a caller without a key, as "demo" does.
    """
    raise ApiError(404, "not_found", "No such API endpoint.")
