"""X-Forwarded-For is believed only from a proxy named by address (TRUSTED_PROXY_CIDRS, none by default).

The attack: gunicorn published directly with a proxy *count* of one, so a client's own header was taken for
the proxy's — forged addresses dodged the per-IP lock, passed an organisation's registered IP ranges and were
written into the access records.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AccessRecord, SecurityEvent
from renergy.client_ip import resolve_client_ip
from tests.accounts.conftest import login_steps, ready, totp_code

pytestmark = [pytest.mark.django_db]

LIMIT = settings.AXES_FAILURE_LIMIT
PEER = "203.0.113.5"  # the real client, talking to the app directly
FORGED = "192.0.2.9"  # inside the organisation's registered range


@pytest.fixture
def restricted_person(orgs, make_user):
    orgs.operator_a.ip_ranges = "192.0.2.0/24"
    orgs.operator_a.save()
    return ready(make_user(orgs.operator_a))


def test_a_forged_header_from_an_untrusted_peer_does_not_pass_the_registered_ip_range(restricted_person) -> None:
    device = TOTPDevice.objects.get(user=restricted_person)
    response = login_steps(
        Client(), restricted_person, code=totp_code(device), REMOTE_ADDR=PEER, HTTP_X_FORWARDED_FOR=FORGED
    )
    assert response.status_code == 400
    assert "メールアドレスまたはパスワードが正しくありません" in response.content.decode()
    assert SecurityEvent.objects.get(action="auth.ip_refused").ip == PEER
    record = AccessRecord.objects.get(request_id=response["X-Request-ID"])
    assert record.ip == PEER  # the access record names the real peer, not the forged address


def test_a_forged_header_does_not_dodge_the_per_ip_lock(orgs, make_user) -> None:
    bystander = ready(make_user(orgs.operator_b))
    for n in range(settings.AXES_IP_FAILURE_LIMIT):
        Client().post(
            reverse("accounts:login"),
            {"username": f"sprayed{n}@example.jp", "password": "wrong password 123"},
            REMOTE_ADDR=PEER,
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n + 1}",
        )
    # A fresh forged address does not help: the lock is on the real peer.
    assert login_steps(Client(), bystander, REMOTE_ADDR=PEER, HTTP_X_FORWARDED_FOR="198.51.100.200").status_code == 429
    assert login_steps(Client(), bystander, REMOTE_ADDR="203.0.113.6").status_code == 302


@override_settings(TRUSTED_PROXY_CIDRS=["10.0.0.0/8"])
def test_the_header_from_a_trusted_proxy_names_the_client(restricted_person) -> None:
    device = TOTPDevice.objects.get(user=restricted_person)
    # The client forged a left-most entry; our proxy appended the address it really saw.
    response = login_steps(
        Client(),
        restricted_person,
        code=totp_code(device),
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR=f"198.51.100.77, {FORGED}",
    )
    assert response.status_code == 302
    assert AccessRecord.objects.get(request_id=response["X-Request-ID"]).ip == FORGED


@override_settings(TRUSTED_PROXY_CIDRS=["10.0.0.0/8"])
def test_a_client_behind_a_trusted_proxy_cannot_forge_its_way_into_the_range(restricted_person) -> None:
    device = TOTPDevice.objects.get(user=restricted_person)
    response = login_steps(
        Client(),
        restricted_person,
        code=totp_code(device),
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR=f"{FORGED}, {PEER}",
    )
    assert response.status_code == 400
    assert AccessRecord.objects.get(request_id=response["X-Request-ID"]).ip == PEER


@pytest.mark.parametrize(
    ("trusted", "remote", "header", "expected"),
    [
        ([], "203.0.113.5", "192.0.2.9", "203.0.113.5"),
        (["10.0.0.0/8"], "203.0.113.5", "192.0.2.9", "203.0.113.5"),  # header from an untrusted peer
        (["10.0.0.0/8"], "10.0.0.2", "192.0.2.9", "192.0.2.9"),
        (["10.0.0.0/8"], "10.0.0.2", "192.0.2.1, 192.0.2.9, 10.0.0.3", "192.0.2.9"),  # two of our proxies
        (["10.0.0.0/8"], "10.0.0.2", "", "10.0.0.2"),
        (["10.0.0.0/8"], "10.0.0.2", "not-an-ip", "10.0.0.2"),
        (["10.0.0.0/8"], "10.0.0.2", "192.0.2.1, garbage, 192.0.2.9", "192.0.2.9"),
        (["10.0.0.0/8"], "::ffff:10.0.0.2", "192.0.2.9", "192.0.2.9"),
        (["fd00::/8"], "fd00::1", "2001:db8::5", "2001:db8::5"),
        ([], "", "192.0.2.9", "0.0.0.0"),  # noqa: S104 - the placeholder for a peer without an address
    ],
)
def test_the_resolver_reads_the_header_only_from_trusted_addresses(trusted, remote, header, expected) -> None:
    with override_settings(TRUSTED_PROXY_CIDRS=trusted):
        assert resolve_client_ip(remote, header) == expected


@pytest.mark.parametrize(("peer", "secure"), [("203.0.113.5", False), ("10.0.0.2", True)])
def test_x_forwarded_proto_is_believed_only_from_a_trusted_proxy(rf, peer, secure) -> None:
    from renergy.client_ip import UntrustedForwardedHeadersMiddleware

    seen = {}

    def view(request):
        seen["secure"] = request.is_secure()
        seen["forwarded_for"] = request.META.get("HTTP_X_FORWARDED_FOR")
        return HttpResponse()

    request = rf.get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_FOR=FORGED)
    proto = ("HTTP_X_FORWARDED_PROTO", "https")
    with override_settings(TRUSTED_PROXY_CIDRS=["10.0.0.0/8"], SECURE_PROXY_SSL_HEADER=proto):
        UntrustedForwardedHeadersMiddleware(view)(request)
    assert seen == {"secure": secure, "forwarded_for": FORGED if secure else None}
