"""The one client-IP resolver, shared by lockout (axes), audit records and sessions.

Behind N trusted reverse proxies, each appends the address it saw to X-Forwarded-For, so the
client is the N-th entry from the right. Entries left of that were written by the client and are
never trusted (django-axes #132/#224/#286; auditlog takes the left-most, which is spoofable).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

_CACHE_ATTR = "_renergy_client_ip"


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    ip = _valid_ip(request.META.get("REMOTE_ADDR", "")) or "0.0.0.0"  # noqa: S104 - a placeholder, not a bind
    proxies: int = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            ip = _valid_ip(hops[-proxies]) or ip
    setattr(request, _CACHE_ATTR, ip)
    return ip


def client_ip_for_axes(request: HttpRequest) -> str:
    return client_ip(request)
