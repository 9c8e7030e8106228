from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("アカウント")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate, pre_migrate

        from accounts import signals  # noqa: F401  (connects the lockout event)
        from renergy.databases import lift_statement_limit_for_migrations, restore_statement_limit_after_migrations

        pre_migrate.connect(lift_statement_limit_for_migrations, dispatch_uid="renergy-migrations-no-limit")
        post_migrate.connect(restore_statement_limit_after_migrations, dispatch_uid="renergy-migrations-limit-back")
