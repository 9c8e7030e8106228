"""The e-mail outbox: notifications are rows written with the change that causes them, sent by a worker.

`outbox_enqueue` adds a row in the caller's transaction (a rolled-back change sends nothing; a committed one
cannot lose its mail). `outbox_deliver_due` (Celery task accounts.tasks.outbox_deliver, on commit and every
minute from beat) sends what is due. Each message is claimed with one conditional UPDATE that is committed
before SMTP is spoken, so two workers never send the same row, and a message is sent at most once:

- SMTP refused or failed → back to pending, next attempt after an exponential backoff (OUTBOX_RETRY_BASE_SECONDS
  doubling, at most OUTBOX_RETRY_MAX_SECONDS), failed after OUTBOX_MAX_ATTEMPTS;
- a worker killed while sending leaves the row "sending"; past OUTBOX_SENDING_STALE_SECONDS it is marked failed
  (delivery unknown) for the administrator rather than sent a second time.
"""

from __future__ import annotations

import json
import logging
import smtplib
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import OutboundEmail, OutboundEmailStatus, User

logger = logging.getLogger("accounts.outbox")

INTERRUPTED = "送信が中断されました（配信は不明） / interrupted, delivery unknown"
_UNREACHABLE = (ConnectionError, TimeoutError, smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected)


def outbox_trigger() -> None:
    """After commit, have the outbox's due mail sent (a worker, or this process in inline mode)."""
    from accounts.tasks import outbox_deliver

    if settings.OUTBOX_DELIVERY == "inline":
        # Tests and `make run` without a worker: the same delivery, in this process, after commit.
        transaction.on_commit(outbox_deliver_due)
        return

    def enqueue() -> None:
        try:
            outbox_deliver.delay()
        except Exception:
            # Broker down: the mail is safe in the outbox and beat's next sweep sends it.
            logger.warning("outbox: could not queue delivery; the periodic sweep will send it", exc_info=True)

    transaction.on_commit(enqueue)


def outbox_enqueue(*, kind: str, subject: str, user: User, context: dict[str, Any]) -> OutboundEmail:
    """Add one e-mail to the outbox in the current transaction; it is sent after commit."""
    email = OutboundEmail.objects.create(
        kind=kind,
        user=user,
        recipient=user.email,
        subject=subject,
        context=context,
    )
    outbox_trigger()
    return email


def outbox_enqueue_returning_sql(*, kind: str, subject: str, context: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The INSERT … SELECT that bulk services chain after an `UPDATE … RETURNING id, email` CTE named
    `changed`, so a thousand suspensions put their thousand e-mails in the outbox in one statement (the same
    context for each; the name is read when it is sent). Uses the parameter %(now)s of the caller."""
    table = OutboundEmail._meta.db_table
    return (
        f"INSERT INTO {table} (created_at, kind, user_id, recipient, subject, context, status, attempts, "  # noqa: S608
        f"next_attempt_at, last_error) SELECT %(now)s, %(outbox_kind)s, changed.id, changed.email, %(outbox_subject)s, "
        f"%(outbox_context)s::jsonb, '{OutboundEmailStatus.PENDING}', 0, %(now)s, '' FROM changed"
    ), {"outbox_kind": kind, "outbox_subject": subject, "outbox_context": json.dumps(context, ensure_ascii=False)}


def outbox_statement_run(sql: str, params: dict[str, Any]) -> list[int]:
    """Run one bulk statement whose `changed` rows also enqueue their mail (outbox_enqueue_returning_sql): the
    ids it changed, and the sender woken after commit when there are any."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    if ids:
        outbox_trigger()
    return ids


def _backoff(attempts: int) -> timedelta:
    base = settings.OUTBOX_RETRY_BASE_SECONDS
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), settings.OUTBOX_RETRY_MAX_SECONDS))


def _claim(email_id: int, now: Any) -> OutboundEmail | None:
    """pending → sending in one UPDATE, committed: the row is this worker's alone."""
    claimed = OutboundEmail.objects.filter(
        pk=email_id, status=OutboundEmailStatus.PENDING, next_attempt_at__lte=now
    ).update(status=OutboundEmailStatus.SENDING, claimed_at=now)
    return OutboundEmail.objects.select_related("user").get(pk=email_id) if claimed else None


def _message(email: OutboundEmail) -> EmailMessage:
    context = {"site_url": settings.SITE_URL, "user": email.user, **email.context}
    body = render_to_string(f"accounts/email/{email.kind}.txt", context)
    return EmailMessage(email.subject, body, None, [email.recipient])


def outbox_deliver_due(*, limit: int = 500) -> dict[str, int]:
    """Send what is due, one claimed row at a time over one SMTP connection. Safe to run concurrently."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    outbox_mark_interrupted()
    now = timezone.now()
    due = list(
        OutboundEmail.objects.filter(status=OutboundEmailStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    smtp = None
    try:
        for email_id in due:
            email = _claim(email_id, timezone.now())
            if email is None:
                continue  # another worker has it
            attempts = email.attempts + 1
            try:
                if smtp is None:
                    smtp = get_connection(fail_silently=False)
                    smtp.open()
                smtp.send_messages([_message(email)])
            except Exception as error:
                _close_quietly(smtp)
                smtp = None
                final = attempts >= settings.OUTBOX_MAX_ATTEMPTS
                OutboundEmail.objects.filter(pk=email.pk).update(
                    status=OutboundEmailStatus.FAILED if final else OutboundEmailStatus.PENDING,
                    attempts=attempts,
                    next_attempt_at=timezone.now() + _backoff(attempts),
                    last_error=f"{type(error).__name__}: {error}"[:500],
                )
                counts["failed" if final else "retry"] += 1
                logger.warning("outbox: e-mail %s not sent (attempt %s): %s", email.pk, attempts, error)
                if isinstance(error, _UNREACHABLE):
                    # The server is unreachable: the rest waits for the next sweep instead of failing one by one.
                    break
                continue
            OutboundEmail.objects.filter(pk=email.pk).update(
                status=OutboundEmailStatus.SENT, attempts=attempts, sent_at=timezone.now(), context={}, last_error=""
            )
            counts["sent"] += 1
    finally:
        _close_quietly(smtp)
    return counts


def _close_quietly(smtp: Any) -> None:
    if smtp is not None:
        try:
            smtp.close()
        except Exception:  # the connection is already broken; nothing to close
            logger.debug("outbox: SMTP close failed", exc_info=True)


def outbox_mark_interrupted() -> int:
    """A row left "sending" by a killed worker may or may not have reached the server: not resent, shown."""
    cutoff = timezone.now() - timedelta(seconds=settings.OUTBOX_SENDING_STALE_SECONDS)
    return OutboundEmail.objects.filter(status=OutboundEmailStatus.SENDING, claimed_at__lt=cutoff).update(
        status=OutboundEmailStatus.FAILED,
        last_error=INTERRUPTED,
    )


def outbox_backlog() -> dict[str, Any]:
    """For /readyz and the console: unsent mail and the age of the oldest."""
    unsent = OutboundEmail.objects.filter(status__in=[OutboundEmailStatus.PENDING, OutboundEmailStatus.SENDING])
    oldest = unsent.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "unsent": unsent.count(),
        "failed": OutboundEmail.objects.filter(status=OutboundEmailStatus.FAILED).count(),
        "oldest_unsent_seconds": int((timezone.now() - oldest).total_seconds()) if oldest else 0,
    }
