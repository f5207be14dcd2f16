import logging
import secrets
import time

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware

request_logger = logging.getLogger("console.request")


class RequestLogMiddleware:
    """One line per request: method, path, status, duration, key id, user id.

    Never the key, the query string or a header: only ids that are safe to
    keep. The user is read only if the request already loaded it, so API
    requests never touch the session. The path is the client's: the record
    factory (config.logfilters) redacts a key in it and escapes control
    characters, so a path cannot forge a second line.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = (time.perf_counter() - started) * 1000
        api_key = getattr(request, "api_key", None)
        user = request.__dict__.get("_cached_user")
        request_logger.info(
            "%s %s %s %.1fms key=%s user=%s",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            api_key.public_id if api_key is not None else "-",
            user.pk if user is not None and user.is_authenticated else "-",
        )
        return response


class ContentSecurityPolicyMiddleware:
    """A strict CSP: scripts only from us or with this response's nonce.

    The nonce is in the template context as `csp_nonce`, which django-htmx's
    `{% htmx_script %}` uses.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        # The admin's own templates set inline style attributes.
        style = "'self' 'unsafe-inline'" if request.path.startswith(f"/{settings.ADMIN_URL}") else "'self'"
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{request.csp_nonce}'; "
            f"style-src {style}; "
            "img-src 'self' data:; "
            "connect-src 'self'; "
            "object-src 'none'; "
            "base-uri 'none'; "
            "form-action 'self'; "
            "frame-ancestors 'none'",
        )
        return response


def csp_nonce(request) -> dict:
    return {"csp_nonce": getattr(request, "csp_nonce", "")}


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Django's, but it asks the view before the session.

    Django's version reads `request.user` first, which loads the session on
    every request; the API and /healthz must never look at the session.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not getattr(view_func, "login_required", True):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
