from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from renergy.language import set_language  # the language switch carries its access rule (public)

urlpatterns = [
    path("", include("accounts.urls")),
    path("facilities/", include("certifications.urls")),
    path("audit/", include("audit.urls")),
    path("i18n/setlang/", set_language, name="set_language"),  # replaces include("django.conf.urls.i18n")
    path("admin/", admin.site.urls),
]
