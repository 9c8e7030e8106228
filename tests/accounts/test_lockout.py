"""Lockout: password and second-factor failures count together, per account and per IP (each with its own limit),
also under concurrency."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connections
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.lifecycle import account_unlock
from audit.models import SecurityEvent
from tests.accounts.conftest import PASSWORD, login_steps, ready, totp_code

LIMIT = settings.AXES_FAILURE_LIMIT
IP_LIMIT = settings.AXES_IP_FAILURE_LIMIT
OFFICE = "192.0.2.80"  # one office's address, shared by everyone behind its NAT


def _wrong_password(client: Client, email: str, **extra: Any) -> int:
    return client.post(
        reverse("accounts:login"), {"username": email, "password": "wrong password 123"}, **extra
    ).status_code


@pytest.mark.django_db
def test_the_account_locks_after_the_limit_and_the_right_password_then_fails(person) -> None:
    statuses = [_wrong_password(Client(), person.email) for _ in range(LIMIT)]
    assert statuses[:-1] == [400] * (LIMIT - 1)
    assert statuses[-1] == 429
    device = TOTPDevice.objects.get(user=person)
    locked = login_steps(Client(), person, code=totp_code(device))
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "ロック" in page and "利用責任者" in page and "30分" in page


@pytest.mark.django_db
def test_the_account_lock_holds_from_another_ip_address(person) -> None:
    for n in range(LIMIT):
        _wrong_password(Client(), person.email, REMOTE_ADDR=f"10.0.0.{n + 1}")
    assert login_steps(Client(), person, REMOTE_ADDR="10.9.9.9").status_code == 429


def test_the_address_limit_is_higher_than_the_account_limit() -> None:
    assert IP_LIMIT > LIMIT


@pytest.mark.django_db
def test_ten_people_mistyping_once_each_from_one_office_address_lock_nobody(orgs, make_user) -> None:
    people = [ready(make_user(orgs.operator_a)) for _ in range(LIMIT)]
    statuses = [_wrong_password(Client(), someone.email, REMOTE_ADDR=OFFICE) for someone in people]
    assert statuses == [400] * LIMIT
    # Each of them, and a colleague who made no mistake, then signs in from the same address.
    colleague = ready(make_user(orgs.operator_a))
    for someone in [*people, colleague]:
        device = TOTPDevice.objects.get(user=someone)
        assert login_steps(Client(), someone, code=totp_code(device), REMOTE_ADDR=OFFICE).status_code == 302


@pytest.mark.django_db
def test_one_person_mistyping_from_the_office_locks_their_account_but_not_the_address(orgs, make_user, person) -> None:
    for _ in range(LIMIT):
        _wrong_password(Client(), person.email, REMOTE_ADDR=OFFICE)
    assert login_steps(Client(), person, REMOTE_ADDR=OFFICE).status_code == 429
    colleague = ready(make_user(orgs.operator_a))
    assert login_steps(Client(), colleague, REMOTE_ADDR=OFFICE).status_code == 302


@pytest.mark.django_db
def test_one_ip_address_spraying_many_accounts_is_locked_at_the_address_limit(orgs, make_user, person) -> None:
    statuses = [_wrong_password(Client(), f"someone{n}@example.jp", REMOTE_ADDR="192.0.2.66") for n in range(IP_LIMIT)]
    assert statuses[:-1] == [400] * (IP_LIMIT - 1) and statuses[-1] == 429
    # Even a right password for an untouched account from that address is refused; from elsewhere it works.
    assert login_steps(Client(), person, REMOTE_ADDR="192.0.2.66").status_code == 429
    assert login_steps(Client(), person, REMOTE_ADDR="192.0.2.67").status_code == 302


@pytest.mark.django_db
def test_a_sprayer_cannot_reset_the_count_by_signing_in_to_their_own_account(orgs, make_user, person) -> None:
    sprayer = ready(make_user(orgs.operator_b))
    sprayer_device = TOTPDevice.objects.get(user=sprayer)
    for round_ in range(3):
        for _ in range(LIMIT // 3):
            _wrong_password(Client(), person.email, REMOTE_ADDR="198.51.100.7")
        # A full, successful sign-in of the sprayer's own account from the same address, between rounds.
        login_steps(Client(), sprayer, code=totp_code(sprayer_device, offset=round_), REMOTE_ADDR="198.51.100.7")
    assert _wrong_password(Client(), person.email, REMOTE_ADDR="198.51.100.8") == 429


@pytest.mark.django_db
def test_second_factor_failures_count_toward_the_same_lockout(person) -> None:
    client = Client()
    assert login_steps(client, person).status_code == 302
    statuses = [client.post(reverse("accounts:login_code"), {"code": "000000"}).status_code for _ in range(LIMIT)]
    assert 429 in statuses
    assert statuses.index(429) == LIMIT - 1
    device = TOTPDevice.objects.get(user=person)
    assert login_steps(Client(), person, code=totp_code(device)).status_code == 429


@pytest.mark.django_db
def test_mixed_password_and_code_failures_share_one_counter(person) -> None:
    half = LIMIT // 2
    for _ in range(half):
        _wrong_password(Client(), person.email)
    client = Client()
    assert login_steps(client, person).status_code == 302
    statuses = [
        client.post(reverse("accounts:login_code"), {"code": "999999"}).status_code for _ in range(LIMIT - half)
    ]
    assert statuses[-1] == 429


@pytest.mark.django_db
def test_the_administrators_unlock_clears_the_office_address_locked_by_many_people(
    orgs, make_user, person, administrator, signed_in_client
) -> None:
    for n in range(IP_LIMIT):
        _wrong_password(Client(), f"typo{n}@example.jp", REMOTE_ADDR=OFFICE)
    # The person made no mistake of their own: the address's lock refuses them, and they call the administrator.
    assert login_steps(Client(), person, REMOTE_ADDR=OFFICE).status_code == 429
    colleague = ready(make_user(orgs.operator_a))
    assert login_steps(Client(), colleague, REMOTE_ADDR=OFFICE).status_code == 429
    admin = signed_in_client(administrator)
    assert admin.post(reverse("accounts:admin_account_action", args=[person.pk, "unlock"])).status_code == 302
    assert login_steps(Client(), person, REMOTE_ADDR=OFFICE).status_code == 302
    assert login_steps(Client(), colleague, REMOTE_ADDR=OFFICE).status_code == 302
    event = SecurityEvent.objects.get(action="auth.unlocked", target_user=person)
    assert event.actor == administrator and event.data["addresses"] == [OFFICE]


@pytest.mark.django_db
def test_only_the_administrator_can_unlock(person, officer_a, signed_in_client) -> None:
    for _ in range(LIMIT):
        _wrong_password(Client(), person.email, REMOTE_ADDR="10.1.1.1")
    with pytest.raises(PermissionDenied):
        account_unlock(user=person, actor=officer_a)
    response = signed_in_client(officer_a).post(reverse("accounts:admin_account_action", args=[person.pk, "unlock"]))
    assert response.status_code == 403
    assert login_steps(Client(), person, REMOTE_ADDR="10.2.2.2").status_code == 429


@pytest.mark.django_db
def test_the_administrator_can_unlock(person, administrator, signed_in_client) -> None:
    for _ in range(LIMIT):
        _wrong_password(Client(), person.email, REMOTE_ADDR="10.1.1.1")
    assert login_steps(Client(), person, REMOTE_ADDR="10.2.2.2").status_code == 429
    admin = signed_in_client(administrator)
    response = admin.post(reverse("accounts:admin_account_action", args=[person.pk, "unlock"]))
    assert response.status_code == 302
    assert login_steps(Client(), person, REMOTE_ADDR="10.2.2.2").status_code == 302


def _fire_in_parallel(count: int, attempt) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def run(n: int) -> None:
        try:
            barrier.wait()
            status = attempt(n)
            with lock:
                statuses.append(status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.django_db(transaction=True)
def test_parallel_password_guesses_on_one_account_stop_at_the_limit(person) -> None:
    statuses = _fire_in_parallel(40, lambda n: _wrong_password(Client(), person.email, REMOTE_ADDR=f"10.3.0.{n + 1}"))
    assert len(statuses) == 40
    # Each guess that was really checked answers 400; the LIMIT-th trips the lock (429). Nothing more gets through.
    assert statuses.count(400) <= LIMIT - 1, statuses
    assert login_steps(Client(), person, REMOTE_ADDR="10.4.0.1").status_code == 429


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_from_one_ip_across_accounts_stop_at_the_address_limit(person, settings) -> None:
    settings.AXES_IP_FAILURE_LIMIT = 15  # fewer threads than the default would need; still above the account's
    statuses = _fire_in_parallel(
        40, lambda n: _wrong_password(Client(), f"sprayed{n}@example.jp", REMOTE_ADDR="198.51.100.99")
    )
    assert statuses.count(400) <= 15 - 1, statuses
    assert login_steps(Client(), person, REMOTE_ADDR="198.51.100.99").status_code == 429


@pytest.mark.django_db(transaction=True)
def test_one_code_submitted_in_parallel_signs_in_only_once(person) -> None:
    device = TOTPDevice.objects.get(user=person)
    clients = [Client() for _ in range(8)]
    for client in clients:
        assert (
            client.post(reverse("accounts:login"), {"username": person.email, "password": PASSWORD}).status_code == 302
        )
    code = totp_code(device)
    statuses = _fire_in_parallel(
        8, lambda n: clients[n].post(reverse("accounts:login_code"), {"code": code}).status_code
    )
    assert statuses.count(302) == 1, statuses
