"""/healthz for load balancers: no log-in, no session, no cache."""

from django.contrib.auth.decorators import login_not_required
from django.db import DEFAULT_DB_ALIAS
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from config.db import fetch_one


@login_not_required
@never_cache
@require_safe
def healthz(request: HttpRequest):
    try:
        fetch_one(DEFAULT_DB_ALIAS, "SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return JsonResponse({"status": "error", "detail": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})
