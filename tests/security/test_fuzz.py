"""Generated input on every URL and every form field of the URLconf, anonymously and in every role: no request
answers 5xx, and every request leaves its access record.

The URLs come from the URLconf walker of tests/audit/test_every_url.py (so a view added later is fuzzed
without editing this); path converters get generated values; the fields are those each page's own forms
declare (read from the HTML the role is served), plus names nobody declared. Values mix arbitrary Unicode
with control characters, very long strings, numbers, dates and injection-shaped text; headers (User-Agent,
Accept-Language, X-Forwarded-For, the peer address and, anonymously, the cookies) are generated too.

`make test` runs a reduced size (FUZZ_EXAMPLES per endpoint family, default below); set FUZZ_EXAMPLES=5000
for the full run.
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import Resolver404, resolve
from django.urls.resolvers import RoutePattern
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AccessRecord
from certifications.search import PAGE_SIZE
from tests.accounts.conftest import ready
from tests.audit.test_every_url import _sample, every_url
from tests.certifications.conftest import facility_create

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
# The suite's 300 s per test would cut a full-size run short mid-request (a busy machine needs ~0.3 s a request).
pytestmark = [pytest.mark.django_db, pytest.mark.timeout(max(300, EXAMPLES))]
# By URL namespace; the few views outside one (the language switch) go with the accounts pages.
FAMILIES = ["accounts", "certifications", "audit", "admin"]
ROLES = ["anonymous", "agency", "grid", "local_gov", "officer", "administrator"]
# Signing out would end the role's session for the rest of the run; it is fuzzed anonymously.
SIGNED_IN_SKIP = {"/logout/"}
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def _placeholder_sample(pattern: Any) -> str:
    if isinstance(pattern, RoutePattern):
        return re.sub(r"<(?:(\w+):)?\w+>", lambda m: "{{%s}}" % (m.group(1) or "str"), str(pattern._route))  # type: ignore[attr-defined]
    return _sample(pattern)


def _family(path: str) -> str:
    try:
        match = resolve(path)
    except Resolver404:
        return ""
    if match.app_names[:1] == ["admin"]:
        return "admin"
    return match.namespace if match.namespace in FAMILIES else "accounts"


def _templates() -> dict[str, list[str]]:
    """URL templates by family; only those whose dummy filling resolves."""
    by_family: dict[str, list[str]] = {name: [] for name in FAMILIES}
    for template in dict.fromkeys(every_url(sample=_placeholder_sample)):
        dummy = PLACEHOLDER.sub(lambda m: "1" if m.group(1) == "int" else "x1", template)
        family = _family(dummy)
        if family:
            by_family[family].append(template)
    return by_family


class _FieldNames(HTMLParser):
    """The names a page's forms and links send, with the values the page itself offers for them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.values: dict[str, set[str]] = {}
        self._select: str | None = None

    def _offer(self, name: str, kind: str, value: str | None) -> None:
        self.fields.setdefault(name, kind)
        if value:
            self.values.setdefault(name, set()).add(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        name = values.get("name") or ""
        if tag in ("input", "select", "textarea", "button") and name:
            self._offer(name, (values.get("type") or tag).lower(), values.get("value"))
            self._select = name if tag == "select" else self._select
        elif tag == "option" and self._select:
            self._offer(self._select, "select", values.get("value"))
        elif tag == "a" and "?" in (values.get("href") or ""):
            # Parameters the page's own links carry (the next-page cursor, sort order, language).
            for key, found in parse_qs(urlsplit(values["href"] or "").query, keep_blank_values=True).items():
                for value in found:
                    self._offer(key, "link", value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


@dataclass
class Run:
    requests: int = 0
    server_errors: list[tuple[str, str, int]] = field(default_factory=list)
    unrecorded: list[tuple[str, str, int]] = field(default_factory=list)
    endpoints: set[str] = field(default_factory=set)


@pytest.fixture
def cast(orgs, make_user, signed_in_client) -> dict[str, Any]:
    # More than a page, so the list pages carry their next-page cursor (and it is discovered as a parameter).
    addresses = ["東京都新宿区西新宿2-8-1", "大阪府大阪市北区中之島1-3-20", "北海道札幌市中央区北1条西2"]
    for n in range(PAGE_SIZE + 2):
        facility_create(f"F{n:09d}", addresses[n % 3], organisation=orgs.operator_a if n % 2 else None)
    people = {
        "agency": ready(make_user(orgs.agency)),
        "grid": ready(make_user(orgs.grid_tokyo)),
        "local_gov": ready(make_user(orgs.tokyo_metro)),
        "officer": ready(make_user(orgs.operator_a, officer=True)),
        "administrator": ready(make_user(orgs.contractor, officer=True, is_staff=True)),
    }
    clients = {"anonymous": Client(raise_request_exception=False)}
    for role, person in people.items():
        clients[role] = signed_in_client(person, raise_request_exception=False)
    pks = [str(p.pk) for p in people.values()] + [str(getattr(orgs, n).pk) for n in ("agency", "operator_a")]
    return {"clients": clients, "pks": pks}


Fields = dict[str, tuple[str, list[str]]]  # name -> (input type, the values the pages offer for it)


def _discover(clients: dict[str, Client], templates: list[str], run: Run) -> dict[str, Fields]:
    """The form fields and link parameters each page declares, as any of `clients` is served it."""
    fields: dict[str, Fields] = {}
    for template in templates:
        url = PLACEHOLDER.sub(lambda m: "1" if m.group(1) == "int" else "x1", template)
        names: Fields = {}
        for role, client in clients.items():
            if role != "anonymous" and url in SIGNED_IN_SKIP:
                continue
            response = client.get(url)
            _check(run, response, (role, f"GET {url}", response.status_code))
            if getattr(response, "streaming", False):
                continue
            if "html" in response.get("Content-Type", ""):
                parser = _FieldNames()
                parser.feed(response.content.decode("utf-8", "replace"))
                for name, kind in parser.fields.items():
                    offered = names.get(name, (kind, []))[1]
                    names[name] = (kind, sorted({*offered, *parser.values.get(name, ())}))
        names.pop("csrfmiddlewaretoken", None)
        fields[template] = names
    return fields


INTERESTING = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "NaN",
    "9" * 40,
    "B1",
    "F000000001",
    "2026-13-45",
    "2026-02-29",
    "１２３",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    '=HYPERLINK("http://x")',
    "../../etc/passwd",
    "%00",
    "\x00",
    "a\x00b",
    "\r\nSet-Cookie: x=y",
    "\u202e",
    "\ufeff",
    "x" * 5000,
    "tokyo",
    "solar",
    "fit",
    "csv",
    "-capacity_kw",
    "capacity_kw",
    "certified_on",
    # Shaped like the list's next-page cursor (value~facility ID), at and past the ends of each column's range.
    "1e999999~F000000001",
    "-1e-999999~F000000001",
    "999999999.999~F000000001",
    "9999-12-31~F000000001",
    "0001-01-01~F000000001",
    "2026-02-30~F000000001",
    "on",
    "true",
]
text = st.one_of(
    st.sampled_from(INTERESTING),
    st.text(max_size=30),
    st.text(alphabet=string.printable, max_size=12),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)
# A WSGI server hands over headers decoded as Latin-1, so nothing above U+00FF can arrive in one.
header_text = st.one_of(
    st.sampled_from([value for value in INTERESTING if max(map(ord, value), default=0) < 256]),
    st.text(alphabet=st.characters(max_codepoint=255), max_size=40),
)
peer = st.one_of(
    st.just("127.0.0.1"),
    st.ip_addresses().map(str),
    st.sampled_from(["", "not-an-ip", "::1", "10.0.0.1"]),
)


def _fill(template: str, draw: Any, pks: list[str]) -> str:
    def value(match: re.Match[str]) -> str:
        if match.group(1) == "int":
            return draw(st.one_of(st.sampled_from(pks), st.integers(min_value=0, max_value=10**12).map(str)))
        raw = draw(st.one_of(st.sampled_from(["F000000001", "x1", "1"]), st.text(min_size=1, max_size=20)))
        return quote(raw, safe="")

    return PLACEHOLDER.sub(value, template)


def _values(draw: Any, names: Fields) -> dict[str, Any]:
    extra = draw(st.lists(st.text(min_size=1, max_size=10), max_size=2))
    chosen = draw(st.lists(st.sampled_from(sorted(names)), unique=True)) if names else []
    data: dict[str, Any] = {}
    for name in [*chosen, *extra]:
        kind, offered = names.get(name, ("text", []))
        if kind == "file":
            content = draw(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
            data[name] = SimpleUploadedFile(draw(st.text(min_size=1, max_size=12)) + ".csv", content)
        else:
            # What the page offers (a select's options, a link's cursor) reaches deeper into the view.
            single = st.one_of(st.sampled_from(offered), text) if offered else text
            data[name] = draw(st.one_of(single, st.lists(single, min_size=2, max_size=3)))
    return data


def _send(client: Client, method: str, url: str, query: dict[str, Any], body: dict[str, Any], headers: dict, form: str):
    if query:
        url = f"{url}?{urlencode(query, doseq=True)}"
    if method in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return client.generic(method, url, **headers)
    if form == "multipart":
        return client.generic(method, url, encode_multipart(BOUNDARY, body), content_type=MULTIPART_CONTENT, **headers)
    plain = {k: v for k, v in body.items() if not isinstance(v, SimpleUploadedFile)}
    return client.generic(
        method, url, urlencode(plain, doseq=True), content_type="application/x-www-form-urlencoded", **headers
    )


def _check(run: Run, response: Any, where: tuple[str, str, int]) -> None:
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)
    run.requests += 1
    if response.status_code >= 500:
        run.server_errors.append(where)
    if not _record_ok(response):
        run.unrecorded.append(where)


def _record_ok(response: Any) -> bool:
    request_id = response.get("X-Request-ID")
    if not request_id:
        return False
    records = list(AccessRecord.objects.filter(request_id=request_id, part=0).values_list("status", flat=True))
    return records == [response.status_code]


@pytest.mark.parametrize("family", FAMILIES)
def test_generated_input_never_gets_a_5xx_and_always_leaves_a_record(family, cast) -> None:
    templates = _templates()[family]
    assert templates, family
    clients, pks = cast["clients"], cast["pks"]
    # The roles whose pages differ (grid operators and local governments are served the agency's forms); only
    # the administrator is served the admin's forms, everyone else is sent to sign in or refused.
    roles = ["administrator"] if family == "admin" else ["anonymous", "agency", "officer", "administrator"]
    run = Run()
    fields = _discover({role: clients[role] for role in roles}, templates, run)
    discovered = run.requests

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        draw = data.draw
        role = draw(st.sampled_from([*ROLES, *roles, *roles]))
        template = draw(st.sampled_from(templates))
        if role != "anonymous" and template in SIGNED_IN_SKIP:
            role = "anonymous"
        url = _fill(template, draw, pks)
        method = draw(st.sampled_from(["GET", "GET", "POST", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"]))
        names = fields.get(template, {})
        query = _values(draw, names) if draw(st.booleans()) else {}
        query = {k: v for k, v in query.items() if not isinstance(v, SimpleUploadedFile)}
        body = _values(draw, names) if method in ("POST", "PUT") else {}
        headers = {"REMOTE_ADDR": draw(peer)}
        for header in draw(
            st.lists(st.sampled_from(["HTTP_USER_AGENT", "HTTP_ACCEPT_LANGUAGE", "HTTP_X_FORWARDED_FOR"]), unique=True)
        ):
            headers[header] = draw(header_text)
        if role == "anonymous" and draw(st.booleans()):
            headers["HTTP_COOKIE"] = f"renergy_session={draw(header_text)}; csrftoken={draw(header_text)}"
        response = _send(clients[role], method, url, query, body, headers, draw(st.sampled_from(["multipart", "form"])))
        run.endpoints.add(template)
        where = (role, f"{method} {url[:200]}", response.status_code)
        _check(run, response, where)
        assert response.status_code < 500, where
        assert _record_ok(response), where

    fuzz()
    print(
        f"\nfuzz {family}: {run.requests - discovered} generated + {discovered} discovery requests, "
        f"{len(run.endpoints)}/{len(templates)} endpoints reached, {len(run.server_errors)} 5xx, "
        f"{len(run.unrecorded)} without their record"
    )
    assert not run.server_errors, run.server_errors[:10]
    assert not run.unrecorded, run.unrecorded[:10]
