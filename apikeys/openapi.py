"""The OpenAPI 3.1 description of /api/v1/, served at /api/v1/openapi.json.

Tests check that every API route is described here and that real responses
validate against these schemas.
"""

from apikeys import addresses, schema, tokens
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

WHOAMI_KEY = {
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

MEMBERSHIP = {
    "type": "object",
    "description": "A service account's membership of a project: the permissions it holds there.",
    "required": ["slug", "permissions"],
    "properties": {
        "slug": {"type": "string", "description": "The project's slug."},
        "permissions": {"type": "array", "items": PERMISSION},
    },
    "additionalProperties": False,
}

WHOAMI_ACCOUNT = {
    "type": "object",
    "required": ["type", "id", "name", "organization", "credential", "projects"],
    "properties": {
        "type": {"const": "service_account"},
        "id": {"type": "string", "description": "The service account's public id."},
        "name": _STR,
        "organization": {"type": "string", "description": "The organization's slug."},
        "credential": {
            "type": "object",
            "description": "The calling credential.",
            "required": ["id", "name", "expires_at"],
            "properties": {"id": _STR, "name": _STR, "expires_at": _TIME},
            "additionalProperties": False,
        },
        "projects": {
            "type": "array",
            "description": "The projects the service account is a member of now, by slug.",
            "items": {"$ref": "#/components/schemas/ServiceAccountMembership"},
        },
    },
    "additionalProperties": False,
}

WHOAMI = {
    "description": "The caller: an API key, or a service account by one of its credentials.",
    "oneOf": [
        {"$ref": "#/components/schemas/WhoAmIApiKey"},
        {"$ref": "#/components/schemas/WhoAmIServiceAccount"},
    ],
    "discriminator": {
        "propertyName": "type",
        "mapping": {
            "api_key": "#/components/schemas/WhoAmIApiKey",
            "service_account": "#/components/schemas/WhoAmIServiceAccount",
        },
    },
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


# -- service accounts (SPEC §8) ----------------------------------------------------------


def _page_of(schema_name: str) -> dict:
    """A page like the key page, of another schema."""
    return {
        **KEY_PAGE,
        "properties": {
            **KEY_PAGE["properties"],
            "results": {"type": "array", "items": {"$ref": f"#/components/schemas/{schema_name}"}},
        },
    }


SERVICE_ACCOUNT = {
    "type": "object",
    "required": [
        "id",
        "name",
        "description",
        "organization",
        "organization_role",
        "state",
        "created_at",
        "created_by",
        "disabled_at",
        "deleted_at",
        "projects",
    ],
    "properties": {
        "id": {"type": "string", "description": "Public id (not secret)."},
        "name": {"type": "string", "description": "Unique among the organization's service accounts not deleted."},
        "description": _STR,
        "organization": {"type": "string", "description": "The owner organization's slug."},
        "organization_role": {
            "type": ["string", "null"],
            "description": (
                "The name of the service account's own organization role (`Admin`: its credentials manage the "
                "organization's service accounts), or null."
            ),
        },
        "state": {
            "type": "string",
            "enum": ["active", "disabled", "deleted"],
            "description": "A disabled account's credentials are refused until it is enabled; deletion is final.",
        },
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
                    "properties": {
                        "type": {"const": "credential"},
                        "id": {"type": "string", "description": "The public id of the credential that created it."},
                    },
                    "additionalProperties": False,
                },
            ]
        },
        "disabled_at": _TIME,
        "deleted_at": _TIME,
        "projects": {
            "type": "array",
            "description": "Its project memberships, by slug.",
            "items": {"$ref": "#/components/schemas/ServiceAccountMembership"},
        },
    },
    "additionalProperties": False,
}

CREDENTIAL = {
    "type": "object",
    "required": [
        "id",
        "name",
        "masked_key",
        "status",
        "expires_at",
        "allowed_ips",
        "created_at",
        "last_used_at",
        "last_used_ip",
        "last_used_user_agent",
        "revoked_at",
    ],
    "properties": {
        "id": {"type": "string", "description": "Public id (part of the credential, not secret)."},
        "name": _STR,
        "masked_key": {"type": "string", "description": "prefix…last 4 characters"},
        "status": {
            "type": "string",
            "enum": [status.value for status in (Status.ACTIVE, Status.EXPIRES_SOON, Status.EXPIRED, Status.REVOKED)],
        },
        "expires_at": _TIME,
        "allowed_ips": {
            **_ALLOWED_IPS,
            "description": (
                "IPv4 or IPv6 addresses or CIDR ranges the credential may be used from; empty: any address. "
                "Fixed at creation. A credential used from elsewhere gets 403 `ip_not_allowed`."
            ),
        },
        "created_at": {"type": "string", "format": "date-time"},
        "last_used_at": {**_TIME, "description": "Recorded at most once a minute."},
        "last_used_ip": {"type": ["string", "null"], "description": "The address of the use last recorded."},
        "last_used_user_agent": {
            "type": ["string", "null"],
            "maxLength": 256,
            "description": "The User-Agent of the use last recorded (at most 256 characters).",
        },
        "revoked_at": _TIME,
    },
    "additionalProperties": False,
}

CREATED_CREDENTIAL = {
    **CREDENTIAL,
    "required": [*CREDENTIAL["required"], "secret"],
    "properties": {
        **CREDENTIAL["properties"],
        "secret": {"type": "string", "description": "The credential. Returned only here, once."},
    },
}

SERVICE_ACCOUNT_PAGE = _page_of("ServiceAccount")
CREDENTIAL_PAGE = _page_of("Credential")

_NAME = {"type": "string", "minLength": 1, "maxLength": schema.NAME_MAX_LENGTH}
_DESCRIPTION = {"type": "string", "maxLength": schema.DESCRIPTION_MAX_LENGTH}

CREATE_ACCOUNT_REQUEST = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _NAME, "description": _DESCRIPTION},
    "additionalProperties": False,
}

UPDATE_ACCOUNT_REQUEST = {
    "type": "object",
    "description": "Any of the fields; all of the change is made, or none of it.",
    "properties": {
        "name": _NAME,
        "description": _DESCRIPTION,
        "disabled": {
            "type": "boolean",
            "description": (
                "true: its credentials are refused at once; false: enabled again, which needs every permission "
                "it holds in each of its projects (as creating a credential does)."
            ),
        },
        "organization_role": {
            "type": ["string", "null"],
            "description": (
                "The name of an organization role (`Admin`), or null for none. Only an Owner of the organization "
                "changes it, and a service account is never an Owner: a credential is refused (403 `forbidden`)."
            ),
        },
    },
    "additionalProperties": False,
}

MEMBERSHIP_REQUEST = {
    "type": "object",
    "required": ["permissions"],
    "properties": {
        "permissions": {
            "type": "array",
            "items": PERMISSION,
            "minItems": 1,
            "description": (
                "Exactly the permissions it will hold in the project; those added must be held there by the "
                "calling service account."
            ),
        }
    },
    "additionalProperties": False,
}

CREATE_CREDENTIAL_REQUEST = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {**_NAME, "description": "Unique among the service account's active credentials."},
        "expires_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "At most the calling credential's expiry (required when it has one).",
        },
        "allowed_ips": {
            **_ALLOWED_IPS,
            "description": (
                "IPv4 or IPv6 addresses or CIDR ranges the credential may be used from; empty: any address. "
                "A calling credential limited to addresses creates credentials limited within its own (its own "
                "list when none is given)."
            ),
        },
    },
    "additionalProperties": False,
}


# Every answer to an authenticated key or credential that will stop working (RFC 8594).
_SUNSET = {
    "description": (
        "When the calling key or credential stops working (an HTTP-date), on every answer to one that expires."
    ),
    "required": False,
    "schema": {"type": "string"},
}


def _json(schema_name: str, description: str) -> dict:
    return {
        "description": description,
        "headers": {"Sunset": _SUNSET},
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
    }


_ERROR_TEXT = {
    400: "Invalid input: a malformed URL, header, cookie, parameter or body (named in `detail`).",
    401: (
        "Missing, malformed, unknown, expired, retired or revoked key or credential, or a credential of a "
        "disabled or deleted service account."
    ),
    403: (
        "The key or service account lacks a permission (`permission_denied`, named in `detail`), or the key or "
        "credential is used from an address it is not allowed from (`ip_not_allowed`, counted as a failed "
        "authentication)."
    ),
    404: "No such project (a key sees only its own, a credential those its service account is a member of) or key.",
    409: "The key cannot be rolled: it is revoked, expired, or rolled already.",
    413: "Body too large.",
    415: "Body is not JSON.",
    429: "Too many failed authentications from this address; see Retry-After.",
    503: "A temporary problem (the database); nothing was saved. Retry after Retry-After seconds.",
}


def _errors(*codes: int, text: dict[int, str] | None = None) -> dict:
    """The error answers `codes`, described by `text` where given, else as for the project endpoints."""
    texts = {**_ERROR_TEXT, **(text or {})}
    return {str(code): _json("Error", texts[code]) for code in codes}


def _body(schema_name: str) -> dict:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
    }


_SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
# Anything else is no public id: the API answers its JSON 404 without looking.
_PUBLIC_ID = {"type": "string", "pattern": f"^[{tokens.ALPHABET}]{{{tokens.PUBLIC_ID_LENGTH}}}$"}
_KEY_ID = {"name": "id", "in": "path", "required": True, "schema": _PUBLIC_ID}
_PAGE = {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}}
_ORG_SLUG = {
    "name": "slug",
    "in": "path",
    "required": True,
    "description": "The organization's slug: the calling credential's own (any other is 404, existing or not).",
    "schema": {"type": "string"},
}
_ACCOUNT_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The service account's public id.",
    "schema": _PUBLIC_ID,
}
_PROJECT_SLUG = {
    "name": "project_slug",
    "in": "path",
    "required": True,
    "description": "The slug of a project of the organization.",
    "schema": {"type": "string"},
}
_CREDENTIAL_ID = {
    "name": "credential_id",
    "in": "path",
    "required": True,
    "description": "The credential's public id.",
    "schema": _PUBLIC_ID,
}
# Any operation: a malformed request (a control character in the URL, a
# header or a cookie) is refused before authentication, then the key.
_AUTH_ERRORS = (400, 401, 403, 429)

# What the project endpoints that create, roll or revoke keys refuse a credential.
_KEY_WRITE_403 = {
    403: (
        f"{_ERROR_TEXT[403]} A service account's credential cannot create, roll or revoke API keys (`forbidden`): "
        "keys and service accounts do not mint each other."
    )
}

# The organization endpoints: only a credential of a service account with the organization role Admin.
_ORG_403 = (
    "An API key (`forbidden`: keys do not manage service accounts), a credential whose service account lacks the "
    "organization role Admin (`forbidden`), or a key or credential used from an address it is not allowed from "
    "(`ip_not_allowed`, counted as a failed authentication)."
)
_NO_ORG = "No such organization (a credential sees only its own: any other is 404, existing or not)"
_ORG_TEXT = {
    401: (
        f"{_ERROR_TEXT[401]} Also when the calling credential was revoked, expired or its service account disabled "
        "or deleted while the request ran (nothing was changed)."
    ),
    403: _ORG_403,
    404: f"{_NO_ORG}, or no such service account in it.",
    409: "The service account is deleted: deletion is final.",
    503: _ERROR_TEXT[503],
}
_ORG_READ_ERRORS = (*_AUTH_ERRORS, 404)
_ORG_WRITE_ERRORS = (*_AUTH_ERRORS, 404, 413, 415, 503)


def _org_errors(*codes: int, text: dict[int, str] | None = None) -> dict:
    """The organization endpoints' error answers, described by `text` where given."""
    return _errors(*codes, text={**_ORG_TEXT, **(text or {})})


def document(server_url: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Project API keys",
            "version": "1",
            "description": (
                "Authenticate with `Authorization: Bearer <key>`, where the bearer is an API key (prefix "
                "`cpk_`) or a service account's credential (prefix `csa_`). A key sees only its own project; "
                "a credential sees the projects its service account is a member of, with the permissions of "
                "that membership, and, if its service account holds the organization role Admin, manages the "
                "service accounts of its organization under `/orgs/{slug}/`. "
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
                        "The caller: a key with its project, permissions, tags and expiry, or a service account "
                        "with its organization, the calling credential and its projects' permissions. With "
                        "`permission`: may the caller do that (a credential: in the project named by `project`)? "
                        "200 if it holds the permission, 403 naming it if not; either answer counts as a use (or "
                        "a refused attempt) of that permission."
                    ),
                    "parameters": [
                        {
                            "name": "permission",
                            "in": "query",
                            "required": False,
                            "description": "One codename; an unknown one is a 400.",
                            "schema": PERMISSION,
                        },
                        {
                            "name": "project",
                            "in": "query",
                            "required": False,
                            "description": (
                                "With `permission` and a service account's credential: the slug of the project "
                                "to check in, required then (400 `invalid_parameter` without it; 404 if the "
                                "service account is no member of that project). Not read otherwise."
                            ),
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": _json("WhoAmI", "The calling key or service account."),
                        **_errors(
                            *_AUTH_ERRORS,
                            404,
                            text={
                                404: (
                                    "With a credential, `permission` and `project`: the service account is no "
                                    "member of that project (or there is no such project)."
                                )
                            },
                        ),
                    },
                }
            },
            "/projects/{slug}": {
                "get": {
                    "operationId": "getProject",
                    "summary": "The caller's project (needs can_read_project_in_project there).",
                    "parameters": [_SLUG],
                    "responses": {"200": _json("Project", "The project."), **_errors(*_AUTH_ERRORS, 404)},
                }
            },
            "/projects/{slug}/api-keys": {
                "get": {
                    "operationId": "listApiKeys",
                    "summary": "The project's keys, 25 a page, newest first. Never a secret.",
                    "parameters": [_SLUG, _PAGE],
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
                    "requestBody": _body("CreateApiKey"),
                    "responses": {
                        "201": _json("CreatedApiKey", "The new key with its secret."),
                        **_errors(*_AUTH_ERRORS, 404, 413, 415, 503, text=_KEY_WRITE_403),
                    },
                },
            },
            "/projects/{slug}/api-keys/{id}/revoke": {
                "post": {
                    "operationId": "revokeApiKey",
                    "summary": "Revoke a key for good (idempotent).",
                    "parameters": [_SLUG, _KEY_ID],
                    "responses": {
                        "200": _json("ApiKey", "The revoked key."),
                        **_errors(*_AUTH_ERRORS, 404, text=_KEY_WRITE_403),
                    },
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
                    "requestBody": _body("RollApiKey"),
                    "responses": {
                        "201": _json("CreatedApiKey", "The successor with its secret."),
                        **_errors(*_AUTH_ERRORS, 404, 409, 413, 415, 503, text=_KEY_WRITE_403),
                    },
                }
            },
            "/orgs/{slug}/service-accounts": {
                "get": {
                    "operationId": "listServiceAccounts",
                    "summary": "The organization's service accounts that are not deleted, 25 a page, by name.",
                    "parameters": [_ORG_SLUG, _PAGE],
                    "responses": {
                        "200": _json("ServiceAccountPage", "A page of service accounts."),
                        **_org_errors(*_ORG_READ_ERRORS, text={404: f"{_NO_ORG}, or no such page."}),
                    },
                },
                "post": {
                    "operationId": "createServiceAccount",
                    "summary": "Create a service account of the organization, with no projects and no credentials.",
                    "parameters": [_ORG_SLUG],
                    "requestBody": _body("CreateServiceAccount"),
                    "responses": {
                        "201": _json("ServiceAccount", "The new service account."),
                        **_org_errors(*_ORG_WRITE_ERRORS),
                    },
                },
            },
            "/orgs/{slug}/service-accounts/{id}": {
                "get": {
                    "operationId": "getServiceAccount",
                    "summary": "A service account of the organization (deleted ones too), with its memberships.",
                    "parameters": [_ORG_SLUG, _ACCOUNT_ID],
                    "responses": {
                        "200": _json("ServiceAccount", "The service account."),
                        **_org_errors(*_ORG_READ_ERRORS),
                    },
                },
                "patch": {
                    "operationId": "updateServiceAccount",
                    "summary": "Rename, describe, disable or enable a service account; all of it, or nothing.",
                    "parameters": [_ORG_SLUG, _ACCOUNT_ID],
                    "requestBody": _body("UpdateServiceAccount"),
                    "responses": {
                        "200": _json("ServiceAccount", "The service account as changed."),
                        **_org_errors(
                            *_ORG_WRITE_ERRORS,
                            409,
                            text={
                                403: (
                                    f"{_ORG_403} Also (`forbidden`): enabling it while the calling service account "
                                    "lacks a permission it holds, or changing `organization_role`, which only an "
                                    "Owner of the organization may do."
                                )
                            },
                        ),
                    },
                },
                "delete": {
                    "operationId": "deleteServiceAccount",
                    "summary": (
                        "Delete a service account, for good: its credentials are revoked, the record stays "
                        "(state `deleted`)."
                    ),
                    "parameters": [_ORG_SLUG, _ACCOUNT_ID],
                    "responses": {
                        "200": _json("ServiceAccount", "The deleted service account."),
                        **_org_errors(
                            *_ORG_READ_ERRORS, 409, 503, text={409: "The service account is deleted already."}
                        ),
                    },
                },
            },
            "/orgs/{slug}/service-accounts/{id}/projects/{project_slug}": {
                "put": {
                    "operationId": "setServiceAccountMembership",
                    "summary": (
                        "Make the service account a member of a project of the organization holding exactly "
                        "these permissions (added ones: only those the calling service account holds there)."
                    ),
                    "parameters": [_ORG_SLUG, _ACCOUNT_ID, _PROJECT_SLUG],
                    "requestBody": _body("SetServiceAccountMembership"),
                    "responses": {
                        "200": _json("ServiceAccountMembership", "The membership."),
                        **_org_errors(
                            *_ORG_WRITE_ERRORS,
                            409,
                            text={
                                403: (
                                    f"{_ORG_403} Also (`forbidden`, named in `detail`): adding permissions the "
                                    "calling service account does not hold in that project."
                                ),
                                404: f"{_NO_ORG}, or no such service account or project in it.",
                            },
                        ),
                    },
                },
                "delete": {
                    "operationId": "removeServiceAccountMembership",
                    "summary": "Take the service account out of a project.",
                    "parameters": [_ORG_SLUG, _ACCOUNT_ID, _PROJECT_SLUG],
                    "responses": {
                        "200": _json("ServiceAccount", "The service account, without that membership."),
                        **_org_errors(
                            *_ORG_READ_ERRORS,
                            409,
                            503,
                            text={
                                404: (
                                    f"{_NO_ORG}, no such service account or project in it, or the service account "
                                    "is no member of that project."
                                )
                            },
                        ),
                    },
                },
            },
            "/orgs/{slug}/service-accounts/{id}/credentials": {
                "get": {
                    "operationId": "listCredentials",
                    "summary": "The service account's credentials, revoked and expired ones too, 25 a page, newest "
                    "first. Never a secret.",
                    "parameters": [_ORG_SLUG, _ACCOUNT_ID, _PAGE],
                    "responses": {
                        "200": _json("CredentialPage", "A page of credentials."),
                        **_org_errors(
                            *_ORG_READ_ERRORS, text={404: f"{_NO_ORG}, no such service account in it, or no such page."}
                        ),
                    },
                },
                "post": {
                    "operationId": "createCredential",
                    "summary": (
                        "Create a credential of the service account, which needs every permission the service "
                        "account holds in each of its projects; expiring no later than the calling credential. "
                        "The secret is returned once, here (`Cache-Control: no-store`)."
                    ),
                    "parameters": [_ORG_SLUG, _ACCOUNT_ID],
                    "requestBody": _body("CreateCredential"),
                    "responses": {
                        "201": _json("CreatedCredential", "The new credential with its secret."),
                        **_org_errors(
                            *_ORG_WRITE_ERRORS,
                            409,
                            text={
                                403: (
                                    f"{_ORG_403} Also (`forbidden`, named in `detail`): the calling service account "
                                    "lacks a permission the service account holds, or `allowed_ips` reach beyond "
                                    "the calling credential's."
                                ),
                                409: "The service account is disabled (enable it first) or deleted.",
                            },
                        ),
                    },
                },
            },
            "/orgs/{slug}/service-accounts/{id}/credentials/{credential_id}/revoke": {
                "post": {
                    "operationId": "revokeCredential",
                    "summary": "Revoke a credential for good (idempotent); the very next request with it fails.",
                    "parameters": [_ORG_SLUG, _ACCOUNT_ID, _CREDENTIAL_ID],
                    "responses": {
                        "200": _json("Credential", "The revoked credential."),
                        **_org_errors(
                            *_ORG_READ_ERRORS,
                            503,
                            text={404: f"{_NO_ORG}, no such service account in it, or no such credential of it."},
                        ),
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
                "WhoAmIApiKey": WHOAMI_KEY,
                "WhoAmIServiceAccount": WHOAMI_ACCOUNT,
                "Project": PROJECT,
                "ApiKeyPage": KEY_PAGE,
                "CreateApiKey": CREATE_REQUEST,
                "RollApiKey": ROLL_REQUEST,
                "ServiceAccount": SERVICE_ACCOUNT,
                "ServiceAccountPage": SERVICE_ACCOUNT_PAGE,
                "ServiceAccountMembership": MEMBERSHIP,
                "Credential": CREDENTIAL,
                "CreatedCredential": CREATED_CREDENTIAL,
                "CredentialPage": CREDENTIAL_PAGE,
                "CreateServiceAccount": CREATE_ACCOUNT_REQUEST,
                "UpdateServiceAccount": UPDATE_ACCOUNT_REQUEST,
                "SetServiceAccountMembership": MEMBERSHIP_REQUEST,
                "CreateCredential": CREATE_CREDENTIAL_REQUEST,
            },
        },
    }
