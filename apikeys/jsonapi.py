"""The JSON API's plumbing: its errors, bearer authentication, method checks, bodies and key serialization.

The endpoints are in apikeys.api. None of this reads the session cookie:
`request.user` is not touched and the only credential is the
`Authorization` header, which a browser never sends on its own to another
site. That is why API views are CSRF-exempt: CSRF is an attack on ambient
(cookie) credentials, and there are none here.
"""

import json
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import EmptyPage, Paginator
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from apikeys import authentication, tokens, usage
from apikeys.errors import ApiKeyError, http_status
from apikeys.models import ApiKey
from config import ratelimit
from config.http import client_ip

MAX_BODY_BYTES = 16 * 1024


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
RETIRED = "The API key has been retired: it was rolled and its grace period is over."
# What a refused credential is told (the prefix said it is one).
CREDENTIAL_REFUSALS = {
    "revoked": "The credential has been revoked.",
    "expired": "The credential has expired.",
    "disabled": "The service account of this credential is disabled.",
}
KEY_REFUSALS = {"revoked": REVOKED, "retired": RETIRED, "expired": EXPIRED}


def _unauthorized(detail: str) -> ApiError:
    return ApiError(
        401,
        "invalid_token",
        detail,
        {"WWW-Authenticate": f'Bearer realm="api", error="invalid_token", error_description="{detail}"'},
    )


# -- authentication --------------------------------------------------------------
# The limits themselves are config.ratelimit's API policy.


def _too_many_failures(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        "Too many failed authentications from this address. Try again later.",
        {"Retry-After": str(retry_after)},
    )


def authenticate(request: HttpRequest):
    """The key (or service-account credential) behind the request's bearer token, or an ApiError.

    1. An address that went over the failure limit is refused at once (429),
       before any lookup or hash.
    2. Read `Authorization: Bearer <key>`; nothing else is a credential.
    3. `authentication.api_key_authenticate` parses (a bad checksum costs no
       query), loads the key with one indexed query, compares in constant time.
    4. A guess counts against the client's address: a well-formed key that
       is unknown, wrong, revoked, expired or used from an address it is not
       allowed from. Past the limit, 429. Nothing
       else touches the counter: not a client whose keys are right, and not a
       request without a well-formed key (no header, another scheme, a bad
       checksum), which cost no lookup and cannot be a guess; it is refused
       for less than /healthz costs, with 429 too once the address is over.
    5. "Expired" and "revoked" are told only to callers who proved the secret;
       an unknown key and a wrong secret get the same answer. So is "not
       from this address" (403 ip_not_allowed, a failure like the others).
    """
    if retry_after := ratelimit.api_auth_refused(request):
        raise _too_many_failures(retry_after)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Send the API key as 'Authorization: Bearer <key>'.")
    address = client_ip(request)
    result = authentication.api_key_authenticate(
        token.strip(), address=address, user_agent=request.META.get("HTTP_USER_AGENT", "")
    )
    if result.ok:
        request.api_key = result.principal
        return result.principal
    if result.error != "malformed" and (retry_after := ratelimit.api_auth_failed(request)):
        raise _too_many_failures(retry_after)
    # Told by the prefix, so a mistyped credential is answered like an unknown one, not like a key.
    credential = token.strip().startswith(tokens.prefix(tokens.CREDENTIAL) + "_")
    if result.error == "ip_not_allowed":
        # The secret was right: a leaked key used elsewhere, or a client that moved.
        raise ApiError(
            403,
            "ip_not_allowed",
            f"This {'credential' if credential else 'API key'} cannot be used from this address "
            f"({address or 'unknown'}).",
        )
    if detail := (CREDENTIAL_REFUSALS if credential else KEY_REFUSALS).get(result.error or ""):
        raise _unauthorized(detail)
    # malformed, unknown or wrong: one answer
    raise _unauthorized("The credential is not valid." if credential else "The API key is not valid.")


ANY_METHOD = None


def api_view(*methods: str):
    """Method check, bearer authentication and JSON errors for an API view.

    A GET endpoint answers HEAD too (monitors and load balancers use it);
    any other method gets a JSON 405 naming the allowed ones in `Allow`.
    `api_view(ANY_METHOD)` serves every method.
    """
    allowed = None if methods == (ANY_METHOD,) else with_head(methods)

    def decorator(view):
        @login_not_required
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if (response := method_not_allowed(request, allowed)) is not None:
                return response
            try:
                caller = authenticate(request)
            except ApiError as error:
                return error_response(error.status, error.error, error.detail, error.headers)
            try:
                response = view(request, caller, *args, **kwargs)
            except ApiError as error:
                response = error_response(error.status, error.error, error.detail, error.headers)
            if (stops_at := caller.stops_at) is not None:
                # RFC 8594: every answer to a key that will stop working (expiring, or retiring after a roll) says when.
                response["Sunset"] = http_date(stops_at.timestamp())
            return response

        return wrapper

    return decorator


def with_head(methods) -> tuple[str, ...]:
    return (*methods, "HEAD") if "GET" in methods and "HEAD" not in methods else tuple(methods)


def method_not_allowed(request: HttpRequest, allowed) -> JsonResponse | None:
    if allowed is None or request.method in allowed:
        return None
    response = error_response(405, "method_not_allowed", f"Use {' or '.join(allowed)} on this URL.")
    response["Allow"] = ", ".join(allowed)
    return response


# -- helpers --------------------------------------------------------------------


def require(caller, codename: str) -> None:
    """403 naming the permission unless the caller holds it; either way the check is recorded (apikeys.usage).

    A key holds its own permissions; a credential those of its service
    account's membership of the project `own_project` found.
    """
    holder = caller if isinstance(caller, ApiKey) else caller.membership
    if not usage.record_permission_check(holder, codename, timezone.now()):
        if isinstance(caller, ApiKey):
            raise ApiError(403, "permission_denied", f"The API key lacks the permission {codename}.")
        raise ApiError(
            403, "permission_denied", f"The service account lacks the permission {codename} in this project."
        )


def own_project(caller, slug: str):
    """The project under `slug` if the caller belongs to it, else 404, existing or not.

    A key sees only its own project. A credential sees the projects its
    service account is a member of, read now (one query): a membership
    removed a moment ago is gone for the very next request, on every node.
    The membership is kept on the caller for `require`.
    """
    if isinstance(caller, ApiKey):
        if slug != caller.project.slug:
            raise ApiError(404, "not_found", "No such project.")
        return caller.project
    membership = caller.service_account.memberships.select_related("project").filter(project__slug=slug).first()
    if membership is None:
        raise ApiError(404, "not_found", "No such project.")
    caller.membership = membership
    return membership.project


def refuse_credentials(caller, action: str) -> None:
    """Keys and service accounts do not mint each other: a credential may not create, roll or revoke keys."""
    if not isinstance(caller, ApiKey):
        raise ApiError(
            403,
            "forbidden",
            f"A service account's credential cannot {action} API keys: keys and service accounts do not "
            "mint each other. Use the console or an API key.",
        )


def iso(value):
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
        "expires_at": iso(api_key.expires_at),
        "created_at": iso(api_key.created_at),
        "created_by": created_by,
        "last_used_at": iso(api_key.last_used_at),
        "last_used_ip": api_key.last_used_ip,
        "last_used_user_agent": api_key.last_used_user_agent or None,
        "allowed_ips": list(api_key.allowed_ips),
        # Each permission of the key: when it was last needed (None: never checked through us).
        "permissions_last_needed": {code: iso(needed) for code, needed in api_key.last_needed().items()},
        # Permissions the key lacks and was asked for: when last refused.
        "permissions_last_refused": {code: iso(refused) for code, refused in api_key.refused_permissions()},
        "revoked_at": iso(api_key.revoked_at),
        "retires_at": iso(api_key.retires_at),
        "successor": api_key.successor.public_id if api_key.successor_id else None,
        "predecessor": api_key.rolled_from.public_id if api_key.rolled_from else None,
    }


# What serialize_key reads besides the key's own row: select_related() these.
SERIALIZED_RELATIONS = ("created_by", "created_by_key", "successor", "predecessor")


def paginated(request: HttpRequest, queryset, url: str, serialize) -> JsonResponse:
    """Page `?page=` of `queryset` (API_KEYS_PER_PAGE a page), each entry through `serialize`, with links."""
    try:
        page_number = int(request.GET.get("page", "1"))
    except ValueError:
        raise ApiError(400, "invalid_parameter", "'page' must be a whole number.") from None
    paginator = Paginator(queryset, per_page=settings.API_KEYS_PER_PAGE)
    try:
        page = paginator.page(page_number)
    except EmptyPage:
        raise ApiError(404, "not_found", "No such page.") from None
    base = request.build_absolute_uri(url)
    return JsonResponse(
        {
            "count": paginator.count,
            "page": page.number,
            "pages": paginator.num_pages,
            "next": f"{base}?page={page.number + 1}" if page.has_next() else None,
            "previous": f"{base}?page={page.number - 1}" if page.has_previous() else None,
            "results": [serialize(item) for item in page.object_list],
        }
    )


def created_with_secret(body: dict, secret: str) -> JsonResponse:
    """201 with a new key's or credential's secret: the only answer that ever holds it, kept by no cache."""
    response = JsonResponse({**body, "secret": secret}, status=201)
    response["Cache-Control"] = "no-store"
    return response


def json_body(request: HttpRequest) -> dict:
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


def field(data: dict, name: str, kind, default, required: bool = False):
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


def service_error(error: ApiKeyError) -> ApiError:
    """The refusal as the API answers it, with the status from the one map (apikeys.errors)."""
    # The calling key was revoked, retired or expired between authentication and the write.
    if error.code in {"key_revoked", "key_expired"}:
        return _unauthorized(error.message)
    headers = {"Retry-After": "5"} if error.code == "unavailable" else None  # nothing was saved: retry
    code = "invalid_field" if error.code == "invalid" else error.code
    return ApiError(http_status(error), code, error.message, headers)
