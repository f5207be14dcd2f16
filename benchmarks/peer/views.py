"""Who the presented key is, the djangorestframework-api-key way (`Authorization: Api-Key <key>`).

`whoami` is what the library documents: HasAPIKey checks the key (one query,
one SHA-512), then the view looks it up again with get_from_key() to know
which key it is. `whoami_once` keeps the key HasAPIKey verified on the
request, so a request costs one lookup: the library's own steps
(get_key, get_from_key, has_expired), nothing else.
"""

from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import HasAPIKey


def _body(api_key: APIKey) -> dict:
    return {"name": api_key.name, "prefix": api_key.prefix, "created": api_key.created}


@api_view(["GET"])
@permission_classes([HasAPIKey])
def whoami(request):
    return Response(_body(APIKey.objects.get_from_key(HasAPIKey().get_key(request))))


class HasAPIKeyKept(HasAPIKey):
    """HasAPIKey that leaves the key it verified on the request."""

    def has_permission(self, request, view) -> bool:
        key = self.get_key(request)
        if not key:
            return False
        try:
            api_key = self.model.objects.get_from_key(key)
        except self.model.DoesNotExist:
            return False
        request.api_key = api_key
        return not api_key.has_expired


@api_view(["GET"])
@permission_classes([HasAPIKeyKept])
def whoami_once(request):
    return Response(_body(request.api_key))
