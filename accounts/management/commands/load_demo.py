from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.demo import DEMO_PASSWORD, demo_cast_load, demo_totp_secret_base32

DEMO_FACILITY_COUNT = 3000
DEMO_OPERATOR_FACILITIES = 40


class Command(BaseCommand):
    help = "Load the demo organisations and people (idempotent), and a small synthetic register if none exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--facilities", type=int, default=DEMO_FACILITY_COUNT)

    def handle(self, *args: Any, facilities: int, **options: Any) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("load_demo runs only with DEMO_MODE (dev/test settings), never in production.")
        people, operator_org = demo_cast_load()
        self._facilities(facilities, operator_org)
        if apps.is_installed("audit"):
            from audit.demo import demo_history_plant

            if demo_history_plant():
                self.stdout.write("planted a month of demo access history for the self-inspection")
        self.stdout.write(self.style.SUCCESS("Demo accounts (password + TOTP; `manage.py demo_totp <email>`):"))
        self.stdout.write(f"  password for every demo account: {DEMO_PASSWORD}")
        for person in people:
            officer = " (officer)" if person.officer else ""
            secret = demo_totp_secret_base32(person.email)
            self.stdout.write(f"  {person.email:<48} {person.role_label}{officer}  TOTP secret {secret}")

    def _facilities(self, count: int, operator_org: Any) -> None:
        if "generate_facilities" not in get_commands() or not apps.is_installed("certifications"):
            self.stdout.write("generate_facilities is not available; no facilities loaded.")
            return
        facility_model = apps.get_model("certifications", "Facility")
        # The generator adds rows on every run: only fill an empty register, so load_demo stays idempotent.
        if count > 0 and not facility_model.objects.exists():
            call_command("generate_facilities", count=count, stdout=self.stdout)
        if not facility_model.objects.filter(organisation=operator_org).exists():
            ids = list(
                facility_model.objects.filter(organisation__isnull=True)
                .order_by("pk")
                .values_list("pk", flat=True)[:DEMO_OPERATOR_FACILITIES]
            )
            facility_model.objects.filter(pk__in=ids).update(organisation=operator_org)
            self.stdout.write(f"linked {len(ids)} facilities to {operator_org.name}")
