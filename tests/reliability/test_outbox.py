"""The e-mail outbox against a real SMTP server that the test stops and restarts: nothing lost, nothing twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connections, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.lifecycle import account_suspend
from accounts.models import OutboundEmail, OutboundEmailStatus
from accounts.outbox import INTERRUPTED, outbox_deliver_due
from tests.reliability.servers import SmtpServer, port

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def smtp(settings):
    server = SmtpServer(port(2))
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.port, 2
    yield server
    server.stop()


def _statuses() -> list[str]:
    return list(OutboundEmail.objects.order_by("pk").values_list("status", flat=True))


def test_mail_written_while_smtp_is_down_is_sent_once_when_it_is_back(orgs, make_user, smtp, settings):
    admin = make_user(orgs.contractor)
    people = [make_user(orgs.grid_tokyo) for _ in range(4)]

    # SMTP down: the suspensions commit, their e-mails wait in the outbox with a backoff.
    for person in people[:2]:
        account_suspend(user=person, reason="人事異動", actor=admin)
    waiting = list(OutboundEmail.objects.order_by("pk"))
    assert [m.status for m in waiting] == [OutboundEmailStatus.PENDING] * 2
    assert all(m.attempts == 1 and "Connection" in m.last_error for m in waiting)
    assert all(
        m.next_attempt_at >= timezone.now() + timedelta(seconds=settings.OUTBOX_RETRY_BASE_SECONDS - 5) for m in waiting
    )

    # SMTP back: new mail leaves at once; the waiting ones keep their backoff, then leave once.
    smtp.start()
    for person in people[2:]:
        account_suspend(user=person, reason="人事異動", actor=admin)
    assert sorted(smtp.recipients()) == sorted(p.email for p in people[2:])
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.OUTBOX_RETRY_BASE_SECONDS + 1)):
        assert outbox_deliver_due() == {"sent": 2, "retry": 0, "failed": 0}
    assert sorted(smtp.recipients()) == sorted(p.email for p in people)
    assert _statuses() == [OutboundEmailStatus.SENT] * 4
    assert all("停止" in m.get_payload(decode=True).decode() for m in smtp.messages)

    # Stopped and restarted again, swept again, by three workers at once: nothing is sent a second time.
    smtp.stop()
    smtp.start()
    threads = [threading.Thread(target=lambda: (outbox_deliver_due(), connections.close_all())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(smtp.messages) == 4


def test_concurrent_senders_send_each_message_exactly_once(orgs, make_user, smtp, settings):
    admin = make_user(orgs.contractor)
    people = [make_user(orgs.grid_kansai) for _ in range(30)]
    for person in people:  # SMTP down: 30 e-mails wait
        account_suspend(user=person, reason="人事異動", actor=admin)
    smtp.start()
    barrier = threading.Barrier(3)

    def sender() -> None:
        try:
            barrier.wait()
            with time_machine.travel(timezone.now() + timedelta(hours=1)):
                outbox_deliver_due()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(smtp.recipients()) == sorted(p.email for p in people)
    assert set(_statuses()) == {OutboundEmailStatus.SENT}


def test_a_rolled_back_change_sends_nothing(orgs, make_user, smtp):
    smtp.start()
    admin, person = make_user(orgs.contractor), make_user(orgs.agency)
    with pytest.raises(RuntimeError), transaction.atomic():
        account_suspend(user=person, reason="人事異動", actor=admin)
        raise RuntimeError("the change fails after the e-mail was written")
    assert OutboundEmail.objects.count() == 0 and smtp.messages == []


def test_a_send_interrupted_by_a_dead_worker_is_failed_not_resent_and_the_console_shows_it(
    orgs, make_user, smtp, signed_in_client, settings
):
    admin, person = make_user(orgs.contractor), make_user(orgs.agency)
    account_suspend(user=person, reason="人事異動", actor=admin)  # SMTP down: pending
    # A worker claimed it and died before it knew whether the server took it.
    OutboundEmail.objects.update(status=OutboundEmailStatus.SENDING, claimed_at=timezone.now() - timedelta(hours=1))
    smtp.start()
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        outbox_deliver_due()
    assert smtp.messages == []
    mail = OutboundEmail.objects.get()
    assert mail.status == OutboundEmailStatus.FAILED and mail.last_error == INTERRUPTED

    page = signed_in_client(admin).get(reverse("accounts:admin_outbox"))
    assert page.status_code == 200
    assert person.email in page.content.decode() and "送信失敗" in page.content.decode()
    assert signed_in_client(make_user(orgs.agency)).get(reverse("accounts:admin_outbox")).status_code == 403
