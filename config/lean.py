"""The API and /healthz skip the console's middleware.

Every other service's key check goes through `/api/…`, and load balancers
poll `/healthz`: neither uses a session, a message, the user's language, a
CSRF cookie, a CSP nonce, a static file or htmx, yet in one stack they paid
for all of them on every request (about half of what `/healthz` cost,
docs/profile/). MIDDLEWARE is still one list, so Django's test client and
gunicorn run the same code; this middleware sits in it after the layers
every response needs (the request log, the input guard, the security
headers) and sends these paths straight to URL resolution and the view.

What the skipped layers did that a machine client still needs is done here,
once: the response headers of the console's CSP and clickjacking middleware
(as constants: a JSON answer runs no script and is never framed), the
Content-Length that CommonMiddleware adds, and a fixed language, English, so
an API answer never depends on what language a console page served by the
same worker thread activated before. The API's Host header is checked by
the input guard (config/inputguard.py), as CommonMiddleware would; /healthz
answers load balancers that probe by address. CSRF needs no check: these
views take no cookie credential (see apikeys/jsonapi.py), and /healthz only
answers GET and HEAD.
"""

from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponseBase
from django.utils import translation

API_PREFIX = "/api/"

# Nothing in a JSON answer may load, run or frame anything.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def is_api(path_info: str) -> bool:
    """`/api` and everything under `/api/` (config.urls answers any of it in JSON)."""
    return path_info.startswith(API_PREFIX) or path_info == "/api"


def is_lean(path_info: str) -> bool:
    return is_api(path_info) or path_info == "/healthz"


class _ViewHandler(BaseHandler):
    """Django's own resolve-and-call step (`BaseHandler._get_response`) with no middleware hooks.

    The exception handling around it is Django's too (`convert_exception_to_response`).
    """

    def __init__(self):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self._middleware_chain(request)


class LeanPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.view = _ViewHandler()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not is_lean(request.path_info):
            return self.get_response(request)
        translation.activate(settings.LANGUAGE_CODE)
        response = self.view(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if not response.streaming and "Content-Length" not in response.headers:
            response.headers["Content-Length"] = str(len(response.content))
        return response
