"""Facility pages: search/list, detail, CSV/XLSX export, import upload. Thin: the rules live in
policy.py (who sees what), selectors.py / search.py (reading), exports.py, limits.py and importers.py."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from accounts.models import OrganisationKind
from accounts.permissions import FACILITY_ROLES, signed_in
from audit.disclosure import disclose
from certifications import exports, limits, policy
from certifications.forms import ImportUploadForm, OperatorKindForm
from certifications.importers import ArchiveRefused
from certifications.models import ImportJob, ImportStatus, UsageKind
from certifications.presentation import detail_sections, display_rows, field_label
from certifications.search import FacilitySearchForm, search_conditions, search_count, search_page, search_queryset
from certifications.selectors import get_visible_facility_or_404
from certifications.services import facility_operator_kind_set, import_jobs_create

IMPORT_ROLES = (OrganisationKind.AGENCY, OrganisationKind.BUREAU)
# Who corrects whether an operator is a corporation or a private person: the certification staff.
OPERATOR_KIND_ROLES = (OrganisationKind.AGENCY, OrganisationKind.BUREAU, OrganisationKind.DESIGNATED)


def _query_without(request: HttpRequest, *names: str) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


@signed_in(*FACILITY_ROLES)
def facility_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    allowed = policy.allowed_fields(request.user)
    form = FacilitySearchForm(request.GET or None, allowed=allowed)
    page = search_page(request.user, form, after_raw=request.GET.get("after", ""))
    if page.rows and not limits.usage_reserve(
        user=request.user, kind=UsageKind.LIST_ROWS, amount=len(page.rows), request=request
    ):
        return _limit_page(request, UsageKind.LIST_ROWS)
    disclose(request, facility_ids=[row["facility_id"] for row in page.rows], fields=list(page.fields), kind="list")
    return render(
        request,
        "certifications/list.html",
        {
            "form": form,
            "headers": [field_label(field) for field in page.fields],
            "rows": display_rows(page.rows, page.fields),
            "count": search_count(
                search_queryset(request.user, form),
                first_page=None if request.GET.get("after") else page,
                text=bool((getattr(form, "cleaned_data", {}).get("q") or "").strip()),
            )
            if page.fields
            else None,
            "next_cursor": page.next_cursor,
            "query": _query_without(request, "after"),
            # Carried to each detail page so that its 「検索に戻る」 returns to this page of this search.
            "detail_query": search_conditions(request.GET, with_cursor=True),
            "has_data_access": bool(allowed),
            "export_fields": [(field, field_label(field)) for field in allowed],
        },
    )


@signed_in(*FACILITY_ROLES)
def facility_detail(request: AuthenticatedHttpRequest, facility_id: str) -> HttpResponse:
    facility = get_visible_facility_or_404(request.user, facility_id, request=request)
    if not limits.usage_reserve(user=request.user, kind=UsageKind.DETAIL, amount=1, request=request):
        return _limit_page(request, UsageKind.DETAIL)
    disclose(request, facility_ids=[facility.facility_id], fields=list(facility.fields), kind="detail")
    return render(
        request,
        "certifications/detail.html",
        {
            "facility": facility,
            "sections": detail_sections(facility),
            "operator_kind_form": (
                OperatorKindForm(initial={"kind": facility.values["operator_kind"]})
                if request.user.organisation.kind in OPERATOR_KIND_ROLES and "operator_kind" in facility.values
                else None
            ),
            "back_query": search_conditions(request.GET, with_cursor=True),
        },
    )


def _limit_page(request: HttpRequest, kind: str) -> HttpResponse:
    return render(
        request,
        "certifications/limit.html",
        {"kind": kind, "limit": limits.daily_limit(kind), "back_query": search_conditions(request.GET)},
        status=429,
    )


def _export(request: AuthenticatedHttpRequest, fmt: str) -> HttpResponseBase:
    allowed = policy.allowed_fields(request.user)
    form = FacilitySearchForm(request.GET or None, allowed=allowed)
    queryset = search_queryset(request.user, form)
    fields = exports.export_fields(request.user, request.GET.getlist("cols"))
    cap = int(settings.FACILITY_EXPORT_MAX_ROWS)
    # Bounded count: never more than cap + 1 rows are counted, whatever the scope's size.
    rows = queryset[: cap + 1].count() if fields else 0
    if rows > cap:
        return render(request, "certifications/export_too_large.html", {"cap": cap}, status=400)
    if rows and not limits.usage_reserve(user=request.user, kind=UsageKind.EXPORT_ROWS, amount=rows, request=request):
        return _limit_page(request, UsageKind.EXPORT_ROWS)
    if fmt == "csv":
        stream = exports.csv_stream(request, queryset, sort_key=form.sort_key, fields=fields, limit=rows)
        response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    else:
        stream = exports.xlsx_stream(request, queryset, sort_key=form.sort_key, fields=fields, limit=rows)
        response = StreamingHttpResponse(
            stream, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
    response["Content-Disposition"] = f'attachment; filename="facilities.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


@signed_in(*FACILITY_ROLES)
def facility_export_csv(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    return _export(request, "csv")


@signed_in(*FACILITY_ROLES)
def facility_export_xlsx(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    return _export(request, "xlsx")


@signed_in(*IMPORT_ROLES)
def import_upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            jobs = import_jobs_create(user=request.user, uploads=form.cleaned_data["files"])
        except ArchiveRefused as refused:
            form.add_error("files", str(refused))
        else:
            if not jobs:
                form.add_error("files", _("zip の中に .xlsx または .csv のファイルがありません。"))
            else:
                messages.success(request, _("取込を開始しました。"))
                if len(jobs) == 1:
                    return redirect("certifications:import_job", pk=jobs[0].pk)
                return redirect("certifications:import_batch", batch=jobs[0].batch)
    return render(request, "certifications/import_upload.html", {"form": form})


@signed_in(*IMPORT_ROLES)
def import_job(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    return render(request, "certifications/import_job.html", {"job": job})


@signed_in(*IMPORT_ROLES)
def import_batch(request: AuthenticatedHttpRequest, batch: uuid.UUID) -> HttpResponse:
    jobs = list(ImportJob.objects.filter(batch=batch).order_by("pk"))
    if not jobs:
        raise Http404
    running = any(job.status in (ImportStatus.PENDING, ImportStatus.RUNNING) for job in jobs)
    return render(request, "certifications/import_batch.html", {"jobs": jobs, "running": running})


@signed_in(*OPERATOR_KIND_ROLES)
@require_POST
def facility_operator_kind(request: AuthenticatedHttpRequest, facility_id: str) -> HttpResponse:
    facility = get_visible_facility_or_404(request.user, facility_id, request=request)
    form = OperatorKindForm(request.POST)
    if form.is_valid():
        facility_operator_kind_set(
            facility_id=facility.facility_id, kind=form.cleaned_data["kind"], actor=request.user, request=request
        )
        messages.success(request, _("法人・個人の別を更新しました。"))
    return redirect("certifications:detail", facility_id=facility.facility_id)
