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
- under /api/, a Host that ALLOWED_HOSTS refuses: the API skips
  CommonMiddleware, which checks it for the console (config/lean.py), and
  API clients get JSON rather than Django's HTML page. /healthz answers
  whatever the Host: load balancers probe a node by its address, and the
  answer names no host and holds nothing but "ok".

The values the admin's own pages use without a form (selected action ids,
add-form prefills, `_to_field`, the date hierarchy) are the admin site's to
check (config/admin.py), like which lookups a changelist accepts.

Form bodies are left to forms (Django's CharField refuses NUL, descriptions
may hold CR, LF and tab) and API bodies to the API views, which read the JSON
themselves: this middleware never reads an /api/ body and never touches the
session. Lone surrogates reach us only through JSON escapes ("\\ud800"): WSGI
paths, query strings and form bodies are decoded with replacement characters.
"""

import re

from django.core.exceptions import DisallowedHost, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse

from apikeys.jsonapi import error_response
from config.lean import is_api

URL_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
QUERY_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
HEADER_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
HEADER_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH")


class InputGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if problem := self._problem(request):
            return refuse(request, problem)
        return self.get_response(request)

    def _problem(self, request: HttpRequest) -> str | None:
        # Every API call passes here: each check first looks at everything at
        # once, and only a request that fails it pays for finding the culprit.
        if URL_FORBIDDEN.search(request.path):
            return "The URL contains a character that is not allowed."
        if request.META.get("QUERY_STRING") and (problem := self._query_problem(request)):
            return problem
        if HEADER_FORBIDDEN.search(" ".join(value for _, value in _headers(request))):
            return self._header_problem(request)
        # Cookie values are decoded (quoted octal escapes), so they are checked after parsing.
        if "HTTP_COOKIE" in request.META:
            for name, value in request.COOKIES.items():
                if HEADER_FORBIDDEN.search(name) or HEADER_FORBIDDEN.search(value):
                    return "A cookie contains a character that is not allowed."
        if is_api(request.path_info):
            try:
                request.get_host()
            except DisallowedHost:
                return "The Host header names a host this server does not serve."
        return None

    @staticmethod
    def _query_problem(request: HttpRequest) -> str | None:
        try:
            query = request.GET
        except TooManyFieldsSent:
            return "The query string has too many parameters."
        for name, values in query.lists():
            if URL_FORBIDDEN.search(name) or any(QUERY_VALUE_FORBIDDEN.search(value) for value in values):
                return "The query string contains a character that is not allowed."
        return None

    @staticmethod
    def _header_problem(request: HttpRequest) -> str:
        for key, value in _headers(request):
            if HEADER_FORBIDDEN.search(value):
                name = key.removeprefix("HTTP_").replace("_", "-").title()
                return f"The {name} header contains a character that is not allowed."
        return "A header contains a character that is not allowed."


def _headers(request: HttpRequest):
    """The request's header values as (META key, value), Content-Type and Content-Length included."""
    for key, value in request.META.items():
        if (key.startswith("HTTP_") or key in HEADER_KEYS) and isinstance(value, str):
            yield key, value


def refuse(request: HttpRequest, detail: str) -> HttpResponse:
    """A 400 that reads nothing more from the request (no session, no template); the
    request log and django.request already write one line each about it."""
    if is_api(request.path_info):
        return error_response(400, "bad_request", detail)
    return HttpResponse(f"Bad request. {detail}\n", status=400, content_type="text/plain; charset=utf-8")
