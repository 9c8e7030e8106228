from __future__ import annotations

from django.urls import path

from certifications import views

app_name = "certifications"

urlpatterns = [
    path("", views.facility_list, name="list"),
    path("export.csv", views.facility_export_csv, name="export_csv"),
    path("export.xlsx", views.facility_export_xlsx, name="export_xlsx"),
    path("imports/new/", views.import_upload, name="import_upload"),
    path("imports/<int:pk>/", views.import_job, name="import_job"),
    path("imports/batch/<uuid:batch>/", views.import_batch, name="import_batch"),
    path("<str:facility_id>/operator-kind/", views.facility_operator_kind, name="operator_kind"),
    # Facility ID (設備ID) is the public business key; anything out of scope answers 404.
    path("<str:facility_id>/", views.facility_detail, name="detail"),
]
