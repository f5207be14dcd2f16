import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, for rate limits and the audit trail.

    REMOTE_ADDR, unless the operator says how many proxies in front of us
    append to X-Forwarded-For (TRUSTED_PROXY_COUNT): then the address that
    the outermost trusted proxy saw. Entries left of it are client-supplied
    and never trusted.
    """
    address = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        # Stored in an inet column: anything else must not reach the database.
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address):
        # One client, one address: "::ffff:192.0.2.1" is 192.0.2.1, and a zone
        # ("fe80::1%eth0") names an interface of the sender, not a client; a
        # long one is not even storable in PostgreSQL's inet.
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        if parsed.scope_id is not None:
            return str(ipaddress.IPv6Address(address.partition("%")[0]))
    return str(parsed)


def no_store(response: HttpResponse) -> HttpResponse:
    """Forbid every cache (browser, proxy, back/forward) from keeping the page."""
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
    response["Pragma"] = "no-cache"
    return response


def whoami_curl(request: HttpRequest, secret: str) -> str:
    """The "Try it" command of a view-once secret page (a key's or a credential's): whoami with that secret."""
    return f'curl -H "Authorization: Bearer {secret}" ' + request.build_absolute_uri(reverse("api:whoami"))
