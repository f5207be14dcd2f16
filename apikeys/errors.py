"""The one error type of the key rules, and the one map from it to HTTP.

The service raises `ApiKeyError`; the console, the admin and the API each
turn it into an answer, with the status from `http_status()`.
"""

from django.utils.translation import gettext_lazy


class ApiKeyError(Exception):
    """A request the rules refuse; `field` names the input at fault, if any.

    Messages are translated when raised (the console shows them, the API
    returns them as `detail`, both in the request's language). `code` says
    what kind of refusal it is (see HTTP_STATUS).
    """

    def __init__(self, message: str, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


HTTP_STATUS = {
    "invalid": 400,  # the input breaks a rule
    "forbidden": 403,  # the creator may not do this
    "creation_disabled": 403,  # the deprecation switch
    "already_submitted": 409,  # a form's one-time ticket was used
    "conflict": 409,  # the key's state forbids it (rolling a revoked, expired or rolled key)
    "key_revoked": 401,  # the acting key was revoked meanwhile
    "key_expired": 401,  # ... or expired
    "unavailable": 503,  # the database failed; nothing was saved
}


def http_status(error: ApiKeyError) -> int:
    return HTTP_STATUS.get(error.code, 400)


# What the console, the admin and the API say when the database fails during a
# create: the transaction rolled back, so nothing was saved and a retry is safe.
TEMPORARY_FAILURE = gettext_lazy(
    "The key could not be created because of a temporary problem. Nothing was saved; please try again."
)
TEMPORARY_FAILURE_ROLL = gettext_lazy(
    "The key could not be rolled because of a temporary problem. Nothing was saved; please try again."
)
