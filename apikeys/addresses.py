"""Allowed addresses: the networks a key may be used from, written once at creation.

A key's `allowed_ips` is a list of networks in one normal form, so that equal
lists look the same wherever they are shown: "192.0.2.7" (one address, no
prefix), "192.0.2.0/24", "2001:db8::/32". An IPv4 address written as IPv6
("::ffff:192.0.2.7", how a dual-stack socket reports an IPv4 client) is
the IPv4 address, in a list as in a request (config.http.client_ip), so one
client never has two spellings. An empty list allows any address.

Checked only after the secret is verified (apikeys.authentication), so that
a wrong secret from a wrong address costs and answers the same as from a
right one.
"""

import contextlib
import ipaddress
from functools import lru_cache

from django.utils.translation import gettext, ngettext

from apikeys.errors import ApiKeyError

MAX_ALLOWED_IPS = 20
# The longest spelling of one entry: a full IPv6 address with a prefix.
MAX_ENTRY_LENGTH = 43

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv4-mapped IPv6 addresses (RFC 4291 §2.5.5.2).
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def normal_form(network: Network) -> str:
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def parse_network(entry: str) -> Network:
    """One entry as a network, or ValueError with the reason a person can act on."""
    network = None
    if len(entry) <= MAX_ENTRY_LENGTH and "%" not in entry:  # a zone names an interface of ours, not a client
        with contextlib.suppress(ValueError):
            network = ipaddress.ip_network(entry, strict=False)
    if network is None:
        raise ValueError(gettext("“%(entry)s” is not an IP address or a CIDR range.") % {"entry": entry[:50]})
    if ipaddress.ip_interface(entry).ip != network.network_address:
        raise ValueError(
            gettext("“%(entry)s” has bits set after the prefix: did you mean %(network)s?")
            % {"entry": entry, "network": normal_form(network)}
        )
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        mapped = network.network_address.ipv4_mapped
        network = ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def clean_allowed_ips(value) -> list[str]:
    """The API's list (or the form's text, one entry per line or separated by commas) in normal form.

    At most MAX_ALLOWED_IPS entries; duplicates are dropped, the order kept.
    """
    if isinstance(value, str):
        value = value.replace(",", "\n").splitlines()
    if not isinstance(value, (list, tuple)) or not all(isinstance(entry, str) for entry in value):
        raise ApiKeyError(
            gettext("Allowed addresses must be a list of IP addresses or CIDR ranges."), field="allowed_ips"
        )
    entries = [entry.strip() for entry in value if entry.strip()]
    if len(entries) > MAX_ALLOWED_IPS:
        raise ApiKeyError(
            ngettext(
                "Give at most %(max)s allowed address or range.",
                "Give at most %(max)s allowed addresses or ranges.",
                MAX_ALLOWED_IPS,
            )
            % {"max": MAX_ALLOWED_IPS},
            field="allowed_ips",
        )
    cleaned: list[str] = []
    for entry in entries:
        try:
            network = normal_form(parse_network(entry))
        except ValueError as error:
            raise ApiKeyError(str(error), field="allowed_ips") from None
        if network not in cleaned:
            cleaned.append(network)
    return cleaned


@lru_cache(maxsize=1024)
def _networks(allowed_ips: tuple[str, ...]) -> tuple[Network, ...]:
    # Stored lists are in normal form already; parsed once per process and list.
    return tuple(ipaddress.ip_network(entry) for entry in allowed_ips)


def allows(allowed_ips: list[str], address: str | None) -> bool:
    """Whether a key with this list may be used from `address` (config.http.client_ip's form; None: unknown)."""
    if not allowed_ips:
        return True
    if address is None:
        return False
    client = ipaddress.ip_address(address)
    return any(client in network for network in _networks(tuple(allowed_ips)))


def outside(allowed_ips: list[str], limits: list[str]) -> list[str]:
    """The entries of `allowed_ips` that reach beyond every network of `limits` (an empty `limits`: none)."""
    if not limits:
        return []
    bounds = _networks(tuple(limits))
    return [
        entry
        for entry, network in zip(allowed_ips, _networks(tuple(allowed_ips)), strict=True)
        if not any(network.version == bound.version and network.subnet_of(bound) for bound in bounds)
    ]
