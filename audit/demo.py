"""A little realistic history for the demo, so that the self-inspection offered by `make run` has
something to find in the current month: a grid-operator person who browses at night and whose account
was just used from two addresses at once, and an account issued six weeks ago that was never activated.

Written through the one write path (audit.writer), like the middleware's records. DEMO_MODE only.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.demo import DEMO_DOMAIN
from accounts.models import AccountStatus, Organisation, OrganisationKind, User
from audit.writer import write_access
from renergy.geography import JST

NEVER_ACTIVATED_EMAIL = f"invited-unused@{DEMO_DOMAIN}"
NIGHT_OWL_EMAIL = f"grid-tokyo@{DEMO_DOMAIN}"
OFFICE_IP, HOME_IP, OTHER_IP = "198.51.100.20", "203.0.113.77", "192.0.2.45"


def _visit(user: User, at: datetime, ip: str, path: str = "/facilities/") -> None:
    values = {
        "at": at, "request_id": str(uuid.uuid4()), "user_id": user.pk, "organisation_id": user.organisation_id,
        "role": user.organisation.kind, "session_hash": "", "ip": ip,
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0", "method": "GET", "path": path,
        "query": "", "route": "certifications:list", "status": 200, "duration_ms": 42, "disclosure_kind": "",
        "facility_ids": None, "fields": None, "row_count": 0, "part": 0,
    }  # fmt: skip
    write_access(values)


def demo_history_plant(*, now: datetime | None = None) -> bool:
    """Plant the history once (idempotent); True when it was planted now."""
    if User.objects.filter(email=NEVER_ACTIVATED_EMAIL).exists():
        return False
    now = now or timezone.now()
    person = User.objects.select_related("organisation").get(email=NIGHT_OWL_EMAIL)
    operator = Organisation.objects.filter(kind=OrganisationKind.OPERATOR).order_by("pk").first()
    with transaction.atomic():
        User.objects.create_user(
            NEVER_ACTIVATED_EMAIL,
            name="未利用 招待者",
            organisation=operator,
            department="営業部",
            status=AccountStatus.INVITED,
            date_joined=now - timedelta(days=45),
        )
        # Four weeks of office hours, and late-night sessions from home on most nights.
        today = now.astimezone(JST).date()
        for days_ago in range(1, 29):
            day = today - timedelta(days=days_ago)
            for clock, ip in ((time(10, 5), OFFICE_IP), (time(15, 40), OFFICE_IP), (time(23, 10), HOME_IP),
                              (time(23, 25), HOME_IP), (time(23, 50), HOME_IP)):  # fmt: skip
                at = datetime.combine(day, clock, JST)
                if at < now:
                    _visit(person, at, ip)
        # Within the last two hours: the same account from two addresses, minutes apart.
        for minutes_ago, ip in ((95, OFFICE_IP), (92, OTHER_IP), (90, OFFICE_IP), (87, OTHER_IP), (85, OFFICE_IP)):
            _visit(person, now - timedelta(minutes=minutes_ago), ip, path="/facilities/?area=tokyo")
    return True
