"""Refuse request values that no legitimate client sends, before a view or a query sees them.

PostgreSQL refuses NUL in text ("text fields cannot contain NUL (0x00) bytes"),
so a `%00` anywhere a value reaches a query was a 500 there; SQLite instead
cut the LIKE pattern at the NUL and a search for `%00` matched every key.
Rather than teach every view, this middleware answers 400 for:

- a path or a query-string name or value (after percent-decoding) holding a
  C0 or C1 control character, DEL or a lone surrogate: no URL of ours, no
  search, no `next` holds one. Only a query value may hold a tab: browsers
  strip line breaks from what is pasted into a search box, not tabs (a row
  copied from a table), and a tab harms no query;
- a header or cookie value holding a control character other than HTAB
  (RFC 9110 §5.5 allows HTAB inside a field value; browsers refuse to store
  cookies with other controls, and Python decodes quoted cookies' octal
  escapes such as "\\000" into NUL, which the session backend would query
  with). Bytes 0x80-0xff stay allowed: they are UTF-8 text in latin-1 clothes;
- under /api/, a Host that ALLOWED_HOSTS refuses (Django would answer with an
  HTML page; API clients get JSON).

The admin's own pages send a few values that Django uses without a form;
their values are checked here, against the model's own fields: the keys
selected for a changelist action (`_selected_action`, else ValueError or, on
SQLite, OverflowError), an add form's prefilled relations (`?user=<pk>`,
queried by autocomplete widgets), an empty `_to_field` (FieldDoesNotExist)
and the date hierarchy's year, month and day (OverflowError past a C long,
ValueError past year 9998). Which lookups a changelist accepts at all is the
ModelAdmin's to decide (`lookup_allowed`), not this middleware's.

Form bodies are left to forms (Django's CharField refuses NUL, descriptions
may hold CR, LF and tab) and API bodies to the API views, which read the JSON
themselves: this middleware never reads an /api/ body and never touches the
session. Lone surrogates reach us only through JSON escapes ("\\ud800"): WSGI
paths, query strings and form bodies are decoded with replacement characters.
"""

import re

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import TO_FIELD_VAR
from django.core.exceptions import DisallowedHost, FieldDoesNotExist, TooManyFieldsSent, ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict

from apikeys.jsonapi import error_response

API_PREFIX = "/api/"
URL_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
QUERY_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
HEADER_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
HEADER_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH")
DATE_PARTS = {"year": 9998, "month": 12, "day": 31}


class InputGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if problem := self._problem(request):
            return refuse(request, problem)
        return self.get_response(request)

    def _problem(self, request: HttpRequest) -> str | None:
        if URL_FORBIDDEN.search(request.path):
            return "The URL contains a character that is not allowed."
        try:
            query = request.GET
        except TooManyFieldsSent:
            return "The query string has too many parameters."
        for name, values in query.lists():
            if URL_FORBIDDEN.search(name) or any(QUERY_VALUE_FORBIDDEN.search(value) for value in values):
                return "The query string contains a character that is not allowed."
        for key, value in request.META.items():
            is_header = (key.startswith("HTTP_") or key in HEADER_KEYS) and isinstance(value, str)
            if is_header and HEADER_FORBIDDEN.search(value):
                header = key.removeprefix("HTTP_").replace("_", "-").title()
                return f"The {header} header contains a character that is not allowed."
        for name, value in request.COOKIES.items():
            if HEADER_FORBIDDEN.search(name) or HEADER_FORBIDDEN.search(value):
                return "A cookie contains a character that is not allowed."
        if is_api(request):
            try:
                request.get_host()
            except DisallowedHost:
                return "The Host header names a host this server does not serve."
        return None

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        model_admin = getattr(view_func, "model_admin", None)
        if model_admin is not None and (problem := _admin_problem(request, model_admin, view_func.__name__)):
            return refuse(request, problem)
        return None


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX) or request.path_info == API_PREFIX.rstrip("/")


def refuse(request: HttpRequest, detail: str) -> HttpResponse:
    """A 400 that reads nothing more from the request (no session, no template); the
    request log and django.request already write one line each about it."""
    if is_api(request):
        return error_response(400, "bad_request", detail)
    return HttpResponse(f"Bad request. {detail}\n", status=400, content_type="text/plain; charset=utf-8")


def _admin_problem(request: HttpRequest, model_admin, view_name: str) -> str | None:
    """The admin's own views (never /api/): reading request.POST here is what
    CsrfViewMiddleware does for them next anyway."""
    post = request.POST if request.method == "POST" else QueryDict()
    # Present but empty, Django looks up a field named "" (FieldDoesNotExist).
    if any(data.get(TO_FIELD_VAR) == "" for data in (request.GET, post)):
        return "_to_field must name a field."
    if view_name == "changelist_view":
        pk = model_admin.model._meta.pk
        if not all(_clean(pk, value) for value in post.getlist(ACTION_CHECKBOX_NAME)):
            return "The selection names an object that cannot exist."
        if hierarchy := model_admin.date_hierarchy:
            for part, highest in DATE_PARTS.items():
                # Django catches an impossible date, not a year past 9998 or a number past a C long.
                values = request.GET.getlist(f"{hierarchy}__{part}")
                if not all(re.fullmatch(r"[0-9]{1,4}", value) and 1 <= int(value) <= highest for value in values):
                    return f"{hierarchy}__{part} must be a number from 1 to {highest}."
    if view_name == "add_view":
        for name, value in request.GET.items():
            if not _valid_prefill(model_admin.model, name, value):
                return f"The prefilled value of {name} names an object that cannot exist."
    return None


def _clean(model_field, value: str) -> bool:
    """Whether `value` could be stored in the field: its type and, for integers, the database's range."""
    try:
        model_field.clean(value, None)
    except ValidationError:
        return False
    return True


def _valid_prefill(model, name: str, value: str) -> bool:
    """An add form's ?<relation>=<pk>[,<pk>…] must name keys the related model can hold."""
    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return True
    if not (model_field.is_relation and model_field.concrete) or not value:
        return True
    if model_field.many_to_many:
        values, target = value.split(","), model_field.remote_field.model._meta.pk
    else:
        values, target = [value], model_field.target_field
    return all(_clean(target, item) for item in values)
