"""Per-use approval (都度承認): without an approved window a person can only ask; another officer decides."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from accounts.models import OutboundEmail, UseRequest, UseRequestStatus
from accounts.use_policy import (
    organisation_use_policy_set,
    use_request_approve,
    use_request_create,
    use_request_refuse,
)
from audit.events import record_event
from audit.inspection import inspection_create, inspection_execute
from audit.models import Finding, FindingKind, SecurityEvent
from audit.report import fiscal_year_report
from tests.accounts.conftest import ready
from tests.audit.planting import plant, plant_all

pytestmark = pytest.mark.django_db

JST = ZoneInfo("Asia/Tokyo")
HOME = reverse("accounts:home")
ASK = reverse("accounts:use_request")
QUEUE = reverse("accounts:officer_use_requests")


def _policy(organisation, administrator, **changes):
    settings = {
        "use_approval_required": True,
        "use_approval_max_minutes": 120,
        "allowed_hours_enabled": False,
        "allowed_weekdays": [],
        "allowed_from": organisation.allowed_from,
        "allowed_until": organisation.allowed_until,
        "allowed_exclude_holidays": True,
    }
    settings.update(changes)
    return organisation_use_policy_set(
        organisation=organisation, actor=administrator, reason="都度承認の導入", **settings
    )


@pytest.fixture
def grid(orgs, administrator):
    """A grid operator that committed to per-use approval, with two officers and one person."""
    return _policy(orgs.grid_tokyo, administrator)


@pytest.fixture
def staff(grid, make_user):
    return ready(make_user(grid))


@pytest.fixture
def officer(grid, make_user):
    return ready(make_user(grid, officer=True))


@pytest.fixture
def second_officer(grid, make_user):
    return ready(make_user(grid, officer=True))


def _decide(client, use_request, decision, **data):
    return client.post(reverse("accounts:officer_use_decide", args=[use_request.pk, decision]), data)


def test_a_person_without_an_approval_can_do_nothing_but_ask(staff, signed_in_client) -> None:
    client = signed_in_client(staff)
    for path in (HOME, reverse("certifications:list"), reverse("accounts:account")):
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert ASK in refused.content.decode()  # the refusal links to the request form
    assert client.get(ASK).status_code == 200
    assert SecurityEvent.objects.filter(action="access.use_approval_required", actor=staff).count() == 3


def test_a_person_of_an_organisation_without_per_use_approval_is_not_asked(orgs, make_user, signed_in_client) -> None:
    person = ready(make_user(orgs.grid_kansai))
    assert signed_in_client(person).get(HOME).status_code == 200


def test_a_person_asks_an_officer_approves_and_the_person_uses_the_system(
    staff, officer, second_officer, signed_in_client
) -> None:
    client = signed_in_client(staff)
    asked = client.post(ASK, {"purpose": "買取実績の照合", "minutes": "60"})
    assert asked.status_code == 302
    use_request = UseRequest.objects.get(user=staff)
    assert use_request.status == UseRequestStatus.PENDING
    assert client.get(HOME).status_code == 403  # asking is not approval
    # Every other officer of the organisation hears of the request.
    assert set(OutboundEmail.objects.filter(kind="use_requested").values_list("recipient", flat=True)) == {
        officer.email,
        second_officer.email,
    }

    queue = signed_in_client(officer)
    assert "買取実績の照合" in queue.get(QUEUE).content.decode()
    assert _decide(queue, use_request, "approve").status_code == 302
    use_request.refresh_from_db()
    assert use_request.status == UseRequestStatus.APPROVED and use_request.decided_by == officer
    assert use_request.window_end and use_request.window_start
    assert use_request.window_end - use_request.window_start == timedelta(minutes=60)

    assert client.get(HOME).status_code == 200
    mail = OutboundEmail.objects.get(kind="use_approved")
    assert mail.recipient == staff.email
    actions = set(SecurityEvent.objects.filter(target_user=staff).values_list("action", flat=True))
    assert {"use_approval.requested", "use_approval.approved"} <= actions


def test_a_person_cannot_ask_for_longer_than_the_organisation_allows(staff, signed_in_client) -> None:
    response = signed_in_client(staff).post(ASK, {"purpose": "照合", "minutes": "121"})
    assert response.status_code == 400
    assert not UseRequest.objects.filter(user=staff).exists()
    with pytest.raises(Exception, match="120"):
        use_request_create(user=staff, purpose="照合", minutes=500)


def test_a_person_cannot_have_two_requests_waiting(staff) -> None:
    use_request_create(user=staff, purpose="照合", minutes=30)
    with pytest.raises(Exception, match="承認待ち"):
        use_request_create(user=staff, purpose="もう一度", minutes=30)
    assert UseRequest.objects.filter(user=staff).count() == 1


def test_an_officer_cannot_approve_their_own_use(officer, second_officer, signed_in_client) -> None:
    own = use_request_create(user=officer, purpose="自分の作業", minutes=30)
    client = signed_in_client(officer)
    assert _decide(client, own, "approve").status_code == 403
    with pytest.raises(PermissionDenied):
        use_request_approve(use_request=own, officer=officer)
    own.refresh_from_db()
    assert own.status == UseRequestStatus.PENDING
    assert client.get(HOME).status_code == 403
    # Another officer of the organisation may.
    use_request_approve(use_request=own, officer=second_officer)
    assert client.get(HOME).status_code == 200


def test_an_officer_cannot_refuse_their_own_use_either(officer) -> None:
    own = use_request_create(user=officer, purpose="自分の作業", minutes=30)
    with pytest.raises(PermissionDenied):
        use_request_refuse(use_request=own, officer=officer, reason="不要")


def test_an_officer_of_another_organisation_cannot_approve(staff, orgs, make_user, signed_in_client) -> None:
    use_request = use_request_create(user=staff, purpose="照合", minutes=30)
    outsider = ready(make_user(orgs.grid_kansai, officer=True))
    client = signed_in_client(outsider)
    assert _decide(client, use_request, "approve").status_code == 404
    assert "照合" not in client.get(QUEUE).content.decode()
    with pytest.raises(PermissionDenied):
        use_request_approve(use_request=use_request, officer=outsider)
    use_request.refresh_from_db()
    assert use_request.status == UseRequestStatus.PENDING


def test_a_person_who_is_not_an_officer_cannot_approve(staff, grid, make_user, signed_in_client) -> None:
    use_request = use_request_create(user=staff, purpose="照合", minutes=30)
    colleague = ready(make_user(grid))
    assert _decide(signed_in_client(colleague), use_request, "approve").status_code == 403
    with pytest.raises(PermissionDenied):
        use_request_approve(use_request=use_request, officer=colleague)
    use_request.refresh_from_db()
    assert use_request.status == UseRequestStatus.PENDING


def test_use_after_the_window_is_refused(staff, officer, signed_in_client) -> None:
    use_request = use_request_approve(
        use_request=use_request_create(user=staff, purpose="照合", minutes=30), officer=officer
    )
    client = signed_in_client(staff)
    assert client.get(HOME).status_code == 200
    # Thirty minutes later (the window, moved into the past).
    UseRequest.objects.filter(pk=use_request.pk).update(
        window_start=timezone.now() - timedelta(minutes=31), window_end=timezone.now() - timedelta(minutes=1)
    )
    refused = client.get(HOME)
    assert refused.status_code == 403
    assert ASK in refused.content.decode()
    # The person asks again.
    assert client.post(ASK, {"purpose": "続きの照合", "minutes": "30"}).status_code == 302
    assert UseRequest.objects.filter(user=staff, status=UseRequestStatus.PENDING).exists()


def test_a_person_ends_their_window_early(staff, officer, signed_in_client) -> None:
    use_request_approve(use_request=use_request_create(user=staff, purpose="照合", minutes=60), officer=officer)
    client = signed_in_client(staff)
    assert client.get(HOME).status_code == 200
    client.post(reverse("accounts:use_window_end"))
    assert client.get(HOME).status_code == 403
    assert SecurityEvent.objects.filter(action="use_approval.closed", actor=staff).exists()


def test_a_refusal_needs_a_reason_and_the_person_is_told(staff, officer, signed_in_client) -> None:
    use_request = use_request_create(user=staff, purpose="照合", minutes=30)
    client = signed_in_client(officer)
    _decide(client, use_request, "refuse", reason="")
    use_request.refresh_from_db()
    assert use_request.status == UseRequestStatus.PENDING
    _decide(client, use_request, "refuse", reason="目的が業務外です")
    use_request.refresh_from_db()
    assert use_request.status == UseRequestStatus.REFUSED
    assert use_request.decision_reason == "目的が業務外です"
    assert OutboundEmail.objects.get(kind="use_refused").recipient == staff.email
    assert signed_in_client(staff).get(HOME).status_code == 403


def test_an_officer_without_an_approval_may_decide_but_not_use(officer, staff, signed_in_client) -> None:
    client = signed_in_client(officer)
    assert client.get(QUEUE).status_code == 200
    assert client.get(reverse("accounts:officer_console")).status_code == 403
    use_request = use_request_create(user=staff, purpose="照合", minutes=30)
    assert _decide(client, use_request, "approve").status_code == 302


def test_a_decided_request_cannot_be_decided_again(staff, officer, second_officer) -> None:
    use_request = use_request_approve(
        use_request=use_request_create(user=staff, purpose="照合", minutes=30), officer=officer
    )
    with pytest.raises(Exception, match="審査済み"):
        use_request_refuse(use_request=use_request, officer=second_officer, reason="取り消し")


def test_the_inspection_finds_use_outside_any_approved_window(grid, staff, officer) -> None:
    # Per-use approval since 1 July 2025; one approved window on the 2nd, 10:00–11:00 JST.
    type(grid).objects.filter(pk=grid.pk).update(use_approval_since=datetime(2025, 7, 1, tzinfo=JST))
    window = use_request_create(user=staff, purpose="照合", minutes=60)
    UseRequest.objects.filter(pk=window.pk).update(
        status=UseRequestStatus.APPROVED,
        decided_by=officer,
        decided_at=datetime(2025, 7, 2, 10, tzinfo=JST),
        window_start=datetime(2025, 7, 2, 10, tzinfo=JST),
        window_end=datetime(2025, 7, 2, 11, tzinfo=JST),
    )
    inside = [plant(staff, datetime(2025, 7, 2, 10, minute, tzinfo=JST), facility_ids=["F1"]) for minute in (5, 30)]
    outside = [
        plant(staff, datetime(2025, 7, 2, 11, 15, tzinfo=JST), facility_ids=["F2", "F3"]),
        plant(staff, datetime(2025, 7, 3, 9, 0, tzinfo=JST), facility_ids=["F4"]),
    ]
    refused = [plant(staff, datetime(2025, 7, 4, 9, 0, tzinfo=JST), status=403)]  # the gate's refusal is not use
    before = [plant(staff, datetime(2025, 6, 30, 9, 0, tzinfo=JST), facility_ids=["F5"])]
    # The officer asked for nothing and only decided (the approval queue needs no window of their own).
    deciding = plant(officer, datetime(2025, 7, 2, 9, 59, tzinfo=JST))
    deciding.route = "accounts:officer_use_requests"
    plant_all([*inside, *outside, *refused, *before, deciding])

    run = inspection_create(
        period_start=datetime(2025, 6, 1, tzinfo=JST), period_end=datetime(2025, 8, 1, tzinfo=JST), label="試験"
    )
    inspection_execute(run_id=run.pk)
    findings = Finding.objects.filter(run=run, kind=FindingKind.UNAPPROVED_USE)
    assert [f.user_id for f in findings] == [staff.pk]
    numbers = findings.get().numbers
    assert numbers["requests"] == 2
    assert numbers["disclosed_rows"] == 3


def test_the_fiscal_year_report_counts_requests_approvals_and_refusals_per_organisation(
    grid, staff, officer, orgs
) -> None:
    for n in range(3):
        use_request = use_request_create(user=staff, purpose=f"照合{n}", minutes=30)
        if n < 2:
            use_request_approve(use_request=use_request, officer=officer)
            UseRequest.objects.filter(pk=use_request.pk).update(window_end=timezone.now())
        else:
            use_request_refuse(use_request=use_request, officer=officer, reason="不要")
    record_event(action="use_approval.requested", organisation=orgs.operator_a, data={})
    local = timezone.now().astimezone(JST)
    report = fiscal_year_report(local.year if local.month >= 4 else local.year - 1)
    rows = {row["organisation"]: row for row in report.use_approvals}
    assert (rows[grid.name]["requested"], rows[grid.name]["approved"], rows[grid.name]["refused"]) == (3, 2, 1)
    assert rows[orgs.operator_a.name]["requested"] == 1
    assert rows[orgs.operator_a.name]["approved"] == 0


def test_the_officer_console_points_to_the_waiting_requests(officer, second_officer, staff, signed_in_client) -> None:
    use_request_approve(
        use_request=use_request_create(user=officer, purpose="点検", minutes=30), officer=second_officer
    )
    use_request_create(user=staff, purpose="照合", minutes=30)
    page = signed_in_client(officer).get(reverse("accounts:officer_console")).content.decode()
    assert QUEUE in page and "承認待ち 1 件" in page
