"""The one client-IP resolver, shared by lockout (axes), audit records, model history, sessions and the
organisations' registered IP ranges.

X-Forwarded-For is believed only when the direct peer (REMOTE_ADDR) is a proxy we run, named by address in
TRUSTED_PROXY_CIDRS (empty by default: the header is ignored). A trusted proxy appends the address it saw,
so the list is read from the right: trusted proxies are skipped and the first address that is not one of
ours is the client. Anything left of it was written by the client and is never read (django-axes
#132/#224/#286; auditlog takes the left-most, which is spoofable). A count of proxies alone is not enough:
when the app can be reached directly, a client's own header would be taken for the proxy's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

_CACHE_ATTR = "_renergy_client_ip"
_UNKNOWN = "0.0.0.0"  # noqa: S104 - a placeholder for a peer without a usable address, not a bind

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _valid_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # An IPv4 peer seen through an IPv6 socket (::ffff:192.0.2.1) is the IPv4 address.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address in network for network in _networks(tuple(settings.TRUSTED_PROXY_CIDRS)))


def resolve_client_ip(remote_addr: str, forwarded_for: str) -> str:
    """The client's address from the direct peer and the X-Forwarded-For header (pure, for tests and tools)."""
    peer = _valid_ip(remote_addr)
    if peer is None:
        return _UNKNOWN
    client = peer
    if not _trusted(peer):
        return str(client)
    for hop in reversed(forwarded_for.split(",")):
        address = _valid_ip(hop)
        if address is None:
            # A malformed entry: nothing left of it can be attributed; the last trusted hop is the best we know.
            break
        client = address
        if not _trusted(address):
            break
    return str(client)


def client_ip(request: HttpRequest) -> str:
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    ip = resolve_client_ip(request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", ""))
    setattr(request, _CACHE_ATTR, ip)
    return ip


def client_ip_for_axes(request: HttpRequest) -> str:
    return client_ip(request)


# What a reverse proxy tells the app about the client's connection. From anyone else these are the client's own
# claims: X-Forwarded-Proto would pass for HTTPS (SECURE_PROXY_SSL_HEADER), X-Forwarded-For for an address.
_FORWARDED_HEADERS = (
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_REAL_IP",
)


class UntrustedForwardedHeadersMiddleware:
    """First of all middleware: a request whose direct peer is not one of our proxies loses its forwarding
    headers, so nothing downstream (Django's is_secure(), libraries, logs) can believe them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        peer = _valid_ip(request.META.get("REMOTE_ADDR", ""))
        if peer is None or not _trusted(peer):
            for header in _FORWARDED_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)
