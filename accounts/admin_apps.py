from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class RenergyAdminConfig(AdminConfig):
    """The Django admin with our site class: staff only, after the same full sign-in as everyone."""

    default_site = "accounts.admin_site.RenergyAdminSite"
