from django.db import connection
from django.http import JsonResponse
from django.urls import path


def whoami(request):
    """A body shaped like our whoami's, from constants: no database, no authentication."""
    return JsonResponse(
        {
            "id": "bare00000000",
            "name": "bare",
            "project": "bench",
            "permissions": ["can_read_project_in_project"],
            "tags": [],
            "expires_at": None,
        }
    )


def whoami_after_one_query(request):
    """The same body after the least a database can be asked: the floor of any key check that asks one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return whoami(request)


urlpatterns = [path("whoami", whoami), path("whoami-query", whoami_after_one_query)]
