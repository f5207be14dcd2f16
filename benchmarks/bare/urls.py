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


urlpatterns = [path("whoami", whoami)]
