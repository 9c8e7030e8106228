"""Every URL in the URLconf, hit by a client, leaves exactly one access record — anonymously and signed in.

Generic on purpose: it enumerates whatever the URLconf holds when it runs (every app's views, the
admin), filling path converters with dummy values, so a view added later is covered without editing this.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, RoutePattern

from audit.models import AccessRecord

pytestmark = [pytest.mark.django_db]

_DUMMY_BY_CONVERTER = {"int": "1", "str": "x1", "slug": "x1", "uuid": "00000000-0000-0000-0000-000000000001"}


def _route_sample(pattern: RoutePattern) -> str:
    route = str(pattern._route)  # type: ignore[attr-defined]  # the route as written (no public accessor)

    def fill(match: re.Match[str]) -> str:
        converter = match.group(1) or "str"
        return _DUMMY_BY_CONVERTER.get(converter, "x1")

    return re.sub(r"<(?:(\w+):)?\w+>", fill, route)


def _group_sample(body: str) -> str:
    literals = body.split("|")
    if all(re.fullmatch(r"[\w-]+", lit) for lit in literals):
        return literals[0]
    if body in (r"\d+", "[0-9]+"):
        return "1"
    return "x1"


def _regex_sample(pattern: RegexPattern) -> str:
    regex = str(pattern._regex)  # type: ignore[attr-defined]  # the pattern as written (no public accessor)
    regex = re.sub(r"\(\?P<\w+>((?:[^()]|\([^()]*\))*)\)", lambda m: _group_sample(m.group(1)), regex)
    regex = re.sub(r"\(\?:[^()]*\)\??", "", regex)
    return regex.lstrip("^").rstrip("$").replace("\\", "").replace("?", "")


def _sample(pattern: RoutePattern | RegexPattern) -> str:
    return _route_sample(pattern) if isinstance(pattern, RoutePattern) else _regex_sample(pattern)


def every_url(
    resolver: URLResolver | None = None, prefix: str = "/", sample: Callable[[Any], str] = _sample
) -> Iterator[str]:
    """Every path of the URLconf, with `sample` writing each pattern (tests/security/test_fuzz.py leaves
    placeholders for the path converters, to fill them with generated values)."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        path = prefix + sample(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from every_url(entry, path, sample)
        elif isinstance(entry, URLPattern):
            yield path


def _resolvable(paths: Iterator[str]) -> list[str]:
    urls = []
    for path in dict.fromkeys(paths):
        try:
            resolve(path)
        except Resolver404:
            continue
        urls.append(path)
    return urls


def _assert_each_recorded_once(client: Client, urls: list[str]) -> None:
    unrecorded = []
    for url in urls:
        response = client.get(url)
        if getattr(response, "streaming", False):
            # The record must exist whatever the stream does; a failing stream is that view's own bug.
            with contextlib.suppress(Exception):
                b"".join(response.streaming_content)  # type: ignore[attr-defined]
        request_id = response.get("X-Request-ID")
        records = list(AccessRecord.objects.filter(request_id=request_id, part=0)) if request_id else []
        # A secret URL argument (an activation token) is recorded as "[redacted]".
        same_path = len(records) == 1 and (records[0].path == url or "[redacted]" in records[0].path)
        if not same_path or records[0].status != response.status_code:
            unrecorded.append((url, response.status_code, len(records)))
    assert not unrecorded, f"requests without exactly one matching access record: {unrecorded}"


def test_the_urlconf_enumeration_covers_every_app() -> None:
    urls = _resolvable(every_url())
    assert any(u.startswith("/admin/") for u in urls)
    assert any(u.startswith("/facilities/") for u in urls)
    assert "/healthz" in urls
    assert len(urls) >= 20


def test_every_url_leaves_one_record_for_an_anonymous_client() -> None:
    _assert_each_recorded_once(Client(raise_request_exception=False), _resolvable(every_url()))


@pytest.mark.parametrize("who", ["agency", "contractor_officer", "grid_operator"])
def test_every_url_leaves_one_record_for_a_signed_in_person(who, orgs, make_user, signed_in_client) -> None:
    user = {
        "agency": lambda: make_user(orgs.agency),
        "contractor_officer": lambda: make_user(orgs.contractor, officer=True, is_staff=True),
        "grid_operator": lambda: make_user(orgs.grid_tokyo),
    }[who]()
    client = signed_in_client(user, raise_request_exception=False)
    urls = [u for u in _resolvable(every_url()) if u.rstrip("/") not in ("/logout",)]
    _assert_each_recorded_once(client, urls)
    assert AccessRecord.objects.filter(user_id=user.pk).exists()
