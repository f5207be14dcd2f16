"""Our 404 page for a console view's Http404, whatever DEBUG says.

With DEBUG on, Django answers an Http404 with its technical page, so a
developer would never see what users see for "no such project". The console's
own 404s (loaders such as get_project_or_404) get the page Django renders with
DEBUG off: the URLconf's 404 handler, so one template serves both. Unmatched
URLs never reach a view and keep Django's technical page with DEBUG on (it
lists the URL patterns). The JSON API answers its own JSON 404s (it skips this
middleware anyway, config/lean.py), and the admin keeps Django's behaviour.
"""

from django.conf import settings
from django.http import Http404
from django.urls import get_resolver, get_urlconf

from config.lean import is_api


class ConsoleNotFoundMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, Http404):
            return None
        path = request.path_info
        if is_api(path) or path.startswith(f"/{settings.ADMIN_URL}"):
            return None
        handler = get_resolver(get_urlconf()).resolve_error_handler(404)
        return handler(request, exception=exception)
