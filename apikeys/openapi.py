"""The OpenAPI 3.1 description of /api/v1/, served at /api/v1/openapi.json.

Tests check that every API route is described here and that real responses
validate against these schemas.
"""

from apikeys import addresses, tokens
from apikeys.models import Status
from projects import catalog

_STR = {"type": "string"}
_TIME = {"type": ["string", "null"], "format": "date-time"}

ERROR = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": _STR, "detail": _STR},
    "additionalProperties": False,
}

PERMISSION = {"type": "string", "enum": [p.codename for p in catalog.CATALOG]}

_ALLOWED_IPS = {
    "type": "array",
    "items": {"type": "string", "maxLength": addresses.MAX_ENTRY_LENGTH},
    "maxItems": addresses.MAX_ALLOWED_IPS,
    "description": (
        "IPv4 or IPv6 addresses or CIDR ranges the key may be used from; empty: any address. "
        "Fixed at creation. A key used from elsewhere gets 403 `ip_not_allowed`."
    ),
}

API_KEY = {
    "type": "object",
    "required": [
        "id",
        "name",
        "description",
        "tags",
        "permissions",
        "masked_key",
        "status",
        "expires_at",
        "created_at",
        "created_by",
        "last_used_at",
        "last_used_ip",
        "last_used_user_agent",
        "allowed_ips",
        "permissions_last_needed",
        "permissions_last_refused",
        "revoked_at",
        "retires_at",
        "successor",
        "predecessor",
    ],
    "properties": {
        "id": {"type": "string", "description": "Public id (part of the key, not secret)."},
        "name": _STR,
        "description": _STR,
        "tags": {"type": "array", "items": _STR},
        "permissions": {"type": "array", "items": PERMISSION},
        "masked_key": {"type": "string", "description": "prefix…last 4 characters"},
        "status": {"type": "string", "enum": [status.value for status in Status]},
        "expires_at": _TIME,
        "created_at": {"type": "string", "format": "date-time"},
        "created_by": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["type", "username"],
                    "properties": {"type": {"const": "user"}, "username": _STR},
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "required": ["type", "id"],
                    "properties": {"type": {"const": "api_key"}, "id": _STR},
                    "additionalProperties": False,
                },
            ]
        },
        "last_used_at": {**_TIME, "description": "Recorded at most once a minute."},
        "last_used_ip": {"type": ["string", "null"], "description": "The address of the use last recorded."},
        "last_used_user_agent": {
            "type": ["string", "null"],
            "maxLength": 256,
            "description": "The User-Agent of the use last recorded (at most 256 characters).",
        },
        "allowed_ips": _ALLOWED_IPS,
        "permissions_last_needed": {
            "type": "object",
            "description": (
                "Each permission of the key: when it was last needed, by an endpoint that requires it or by "
                "`whoami?permission=` (recorded at most once a minute); null: never checked through this API."
            ),
            "propertyNames": PERMISSION,
            "additionalProperties": _TIME,
        },
        "permissions_last_refused": {
            "type": "object",
            "description": "Permissions the key lacks and was asked for: when last refused.",
            "propertyNames": PERMISSION,
            "additionalProperties": {"type": "string", "format": "date-time"},
        },
        "revoked_at": _TIME,
        "retires_at": {
            **_TIME,
            "description": "Once rolled: when this key stops working (the end of its grace period).",
        },
        "successor": {"type": ["string", "null"], "description": "Once rolled: the id of the key that replaced it."},
        "predecessor": {"type": ["string", "null"], "description": "The id of the key this one replaced by a roll."},
    },
    "additionalProperties": False,
}

CREATED_KEY = {
    **API_KEY,
    "required": [*API_KEY["required"], "secret"],
    "properties": {
        **API_KEY["properties"],
        "secret": {"type": "string", "description": "The key. Returned only here, once."},
    },
}

WHOAMI = {
    "type": "object",
    "required": ["type", "id", "name", "project", "permissions", "tags", "expires_at"],
    "properties": {
        "type": {"const": "api_key"},
        "id": _STR,
        "name": _STR,
        "project": {"type": "string", "description": "The project's slug."},
        "permissions": {"type": "array", "items": PERMISSION},
        "tags": {"type": "array", "items": _STR},
        "expires_at": _TIME,
    },
    "additionalProperties": False,
}

PROJECT = {
    "type": "object",
    "required": ["slug", "name", "description", "created_at"],
    "properties": {
        "slug": _STR,
        "name": _STR,
        "description": _STR,
        "created_at": {"type": "string", "format": "date-time"},
    },
    "additionalProperties": False,
}

KEY_PAGE = {
    "type": "object",
    "required": ["count", "page", "pages", "next", "previous", "results"],
    "properties": {
        "count": {"type": "integer"},
        "page": {"type": "integer"},
        "pages": {"type": "integer"},
        "next": {"type": ["string", "null"]},
        "previous": {"type": ["string", "null"]},
        "results": {"type": "array", "items": {"$ref": "#/components/schemas/ApiKey"}},
    },
    "additionalProperties": False,
}

CREATE_REQUEST = {
    "type": "object",
    "required": ["name", "permissions"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string", "maxLength": 1000},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 32}, "maxItems": 10},
        "permissions": {"type": "array", "items": PERMISSION, "minItems": 1},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "allowed_ips": {
            **_ALLOWED_IPS,
            "description": (
                f"{_ALLOWED_IPS['description']} A key limited to addresses creates keys limited within "
                "its own (its own list when none is given)."
            ),
        },
    },
    "additionalProperties": False,
}

ROLL_REQUEST = {
    "type": "object",
    "required": ["grace_seconds"],
    "properties": {
        "grace_seconds": {
            "type": "integer",
            "minimum": 0,
            "maximum": 604800,
            "description": "How long the old key keeps working (0: it retires at once; never past its expiry).",
        }
    },
    "additionalProperties": False,
}


# Every answer to an authenticated key that will stop working (RFC 8594).
_SUNSET = {
    "description": "When the calling key stops working (an HTTP-date), on every answer to a key that expires.",
    "required": False,
    "schema": {"type": "string"},
}


def _json(schema_name: str, description: str) -> dict:
    return {
        "description": description,
        "headers": {"Sunset": _SUNSET},
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
    }


def _errors(*codes: int) -> dict:
    text = {
        400: "Invalid input: a malformed URL, header, cookie, parameter or body (named in `detail`).",
        401: "Missing, malformed, unknown, expired, retired or revoked key.",
        403: (
            "The key lacks a permission (`permission_denied`, named in `detail`), or is used from an address "
            "it is not allowed from (`ip_not_allowed`, counted as a failed authentication)."
        ),
        404: "No such project (a key sees only its own) or key.",
        409: "The key cannot be rolled: it is revoked, expired, or rolled already.",
        413: "Body too large.",
        415: "Body is not JSON.",
        429: "Too many failed authentications from this address; see Retry-After.",
        503: "A temporary problem (the database); nothing was saved. Retry after Retry-After seconds.",
    }
    return {str(code): _json("Error", text[code]) for code in codes}


_SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
_KEY_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    # Anything else is no key id: the API answers its JSON 404 without looking.
    "schema": {"type": "string", "pattern": f"^[{tokens.ALPHABET}]{{{tokens.PUBLIC_ID_LENGTH}}}$"},
}
# Any operation: a malformed request (a control character in the URL, a
# header or a cookie) is refused before authentication, then the key.
_AUTH_ERRORS = (400, 401, 403, 429)


def document(server_url: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Project API keys",
            "version": "1",
            "description": (
                "Authenticate with `Authorization: Bearer <key>`. A key sees only its own project. "
                "Every GET operation also answers HEAD (the same status and headers, no body); "
                "a method an operation does not list gets a JSON 405 with `Allow`."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/whoami": {
                "get": {
                    "operationId": "whoami",
                    "summary": (
                        "The calling key: its project, permissions, tags and expiry. With `permission`: "
                        "may this key do that? 200 if it holds the permission, 403 naming it if not; either "
                        "answer counts as a use (or a refused attempt) of that permission."
                    ),
                    "parameters": [
                        {
                            "name": "permission",
                            "in": "query",
                            "required": False,
                            "description": "One codename; an unknown one is a 400.",
                            "schema": PERMISSION,
                        }
                    ],
                    "responses": {"200": _json("WhoAmI", "The calling key."), **_errors(*_AUTH_ERRORS)},
                }
            },
            "/projects/{slug}": {
                "get": {
                    "operationId": "getProject",
                    "summary": "The key's project (needs can_read_project_in_project).",
                    "parameters": [_SLUG],
                    "responses": {"200": _json("Project", "The project."), **_errors(*_AUTH_ERRORS, 404)},
                }
            },
            "/projects/{slug}/api-keys": {
                "get": {
                    "operationId": "listApiKeys",
                    "summary": "The project's keys, 25 a page, newest first. Never a secret.",
                    "parameters": [
                        _SLUG,
                        {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
                    ],
                    "responses": {
                        "200": _json("ApiKeyPage", "A page of keys."),
                        **_errors(*_AUTH_ERRORS, 404),
                    },
                },
                "post": {
                    "operationId": "createApiKey",
                    "summary": (
                        "Create a key with a subset of the calling key's permissions, expiring "
                        "no later than it. The secret is returned once, here."
                    ),
                    "parameters": [_SLUG],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateApiKey"}}},
                    },
                    "responses": {
                        "201": _json("CreatedApiKey", "The new key with its secret."),
                        **_errors(*_AUTH_ERRORS, 404, 413, 415, 503),
                    },
                },
            },
            "/projects/{slug}/api-keys/{id}/revoke": {
                "post": {
                    "operationId": "revokeApiKey",
                    "summary": "Revoke a key for good (idempotent).",
                    "parameters": [_SLUG, _KEY_ID],
                    "responses": {"200": _json("ApiKey", "The revoked key."), **_errors(*_AUTH_ERRORS, 404)},
                }
            },
            "/projects/{slug}/api-keys/{id}/roll": {
                "post": {
                    "operationId": "rollApiKey",
                    "summary": (
                        "Replace a key by a successor with the same name, description, tags, permissions and allowed "
                        "addresses and a "
                        "new secret (returned once, here). The old key keeps working for grace_seconds, then is "
                        "refused like a revoked key; keys it created now hang from the successor. A key may roll "
                        "itself and the keys below it, holding all of their permissions."
                    ),
                    "parameters": [_SLUG, _KEY_ID],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RollApiKey"}}},
                    },
                    "responses": {
                        "201": _json("CreatedApiKey", "The successor with its secret."),
                        **_errors(*_AUTH_ERRORS, 404, 409, 413, 415, 503),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": ERROR,
                "ApiKey": API_KEY,
                "CreatedApiKey": CREATED_KEY,
                "WhoAmI": WHOAMI,
                "Project": PROJECT,
                "ApiKeyPage": KEY_PAGE,
                "CreateApiKey": CREATE_REQUEST,
                "RollApiKey": ROLL_REQUEST,
            },
        },
    }
