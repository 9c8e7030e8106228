from __future__ import annotations

from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("log/", views.access_log, name="log"),
    path("organisation/log/", views.organisation_log, name="organisation_log"),
    path("organisation/findings/", views.organisation_findings, name="organisation_findings"),
    path("organisation/findings/<int:pk>/", views.organisation_finding, name="organisation_finding"),
    path("disclosures/", views.operator_disclosure_log, name="disclosures"),
    path("inspections/", views.inspections, name="inspections"),
    path("inspections/<int:pk>/", views.inspection, name="inspection"),
    path("findings/<int:pk>/", views.finding, name="finding"),
    path("reports/", views.reports_index, name="reports"),
    path("reports/<int:year>/", views.report_page, name="report"),
    path("reports/<int:year>/report.xlsx", views.report_xlsx, name="report_xlsx"),
    path("reports/<int:year>/records.csv", views.report_records_csv, name="report_records_csv"),
]
