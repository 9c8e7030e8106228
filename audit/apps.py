from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("監査")

    def ready(self) -> None:
        from audit import checks, history  # noqa: F401 - checks registers the deploy check

        history.register_models()
