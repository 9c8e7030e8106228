"""Audit pages: the access log (contractor: all; officer: own organisation only), self-inspection runs
and findings with their review, and the fiscal-year report. Thin: the rules live in inspection.py,
report.py and sealing.py; every view declares who may use it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.http import require_http_methods

from accounts.http import AuthenticatedHttpRequest
from accounts.models import OrganisationKind
from accounts.permissions import officer_only, signed_in, system_admin_only
from audit import report as reports
from audit.disclosure import disclose
from audit.disclosure_accounting import operator_disclosures
from audit.evidence import evidence_rows
from audit.inspection import (
    JST,
    finding_answer,
    finding_review,
    findings_for_organisation,
    fiscal_year_bounds,
    fiscal_year_of,
    inspection_create,
    month_bounds,
)
from audit.models import AccessRecord, Finding, InspectionRun, InspectionRunStatus, ReviewState, SecurityEvent
from certifications.selectors import get_visible_facility_or_404
from renergy.geography import jst_days

PAGE_SIZE = 200


class LogFilterForm(forms.Form):
    day_from = forms.DateField(
        label=gettext_lazy("期間（開始）"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    day_to = forms.DateField(
        label=gettext_lazy("期間（終了）"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    user = forms.IntegerField(label=gettext_lazy("利用者ID"), required=False, min_value=1)


def _log_page(request: HttpRequest, records: QuerySet[AccessRecord], events: QuerySet[SecurityEvent]) -> dict[str, Any]:
    form = LogFilterForm(request.GET or None)
    today = timezone.localdate(timezone.now(), JST)
    day_from, day_to, user = today - timedelta(days=6), today, None
    if form.is_valid():
        day_from = form.cleaned_data["day_from"] or day_from
        day_to = form.cleaned_data["day_to"] or day_to
        user = form.cleaned_data["user"]
    start, end = jst_days(day_from, day_to)
    records = records.filter(at__gte=start, at__lt=end, part=0)
    events = events.filter(at__gte=start, at__lt=end)
    if user:
        records = records.filter(user_id=user)
        events = events.filter(actor_id=user)
    before = request.GET.get("before", "")
    if before.isdigit():
        records = records.filter(id__lt=int(before))
    rows = list(records.select_related("user", "organisation").order_by("-id")[:PAGE_SIZE])
    return {
        "form": form,
        "records": rows,
        "events": events.select_related("actor", "target_user").order_by("-id")[:PAGE_SIZE],
        "older": rows[-1].pk if len(rows) == PAGE_SIZE else None,
        "day_from": day_from,
        "day_to": day_to,
    }


@system_admin_only
def access_log(request: AuthenticatedHttpRequest) -> HttpResponse:
    context = _log_page(
        request, AccessRecord.objects.visible_to(request.user), SecurityEvent.objects.visible_to(request.user)
    )
    return render(request, "audit/access_log.html", {**context, "scope": _("全組織")})


@officer_only
def organisation_log(request: AuthenticatedHttpRequest) -> HttpResponse:
    organisation = request.user.organisation
    context = _log_page(
        request,
        AccessRecord.objects.visible_to(request.user).filter(organisation=organisation),
        SecurityEvent.objects.visible_to(request.user).filter(organisation=organisation),
    )
    return render(request, "audit/access_log.html", {**context, "scope": organisation.name})


@officer_only
def organisation_findings(request: AuthenticatedHttpRequest) -> HttpResponse:
    organisation = request.user.organisation
    findings = findings_for_organisation(organisation).select_related("user")[:500]
    return render(
        request,
        "audit/findings.html",
        {"findings": _with_evidence(findings), "scope": organisation.name, "answer_link": True},
    )


class AnswerForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("回答"), widget=forms.Textarea(attrs={"rows": 4}), max_length=4000)


@officer_only
@require_http_methods(["GET", "POST"])
def organisation_finding(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """An officer reads one finding of their organisation and answers it; another organisation's is not found."""
    officer = request.user
    item = get_object_or_404(
        findings_for_organisation(officer.organisation).select_related("user", "organisation"), pk=pk
    )
    form = AnswerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        finding_answer(finding=item, note=form.cleaned_data["note"], actor=officer, request=request)
        messages.success(request, _("回答を記録しました。システム管理者が確認します。"))
        return redirect("audit:organisation_finding", pk=item.pk)
    return _finding_page(request, item, form, submit=_("回答する"), heading=_("組織としての回答"), for_officer=True)


def _finding_page(
    request: AuthenticatedHttpRequest, item: Finding, form: forms.Form, *, submit: str, heading: str, for_officer: bool
) -> HttpResponse:
    """One finding with its evidence, its review history and the form of whoever is looking at it."""
    return render(
        request,
        "audit/finding.html",
        {
            "finding": item,
            "evidence": evidence_rows(item.numbers),
            "form": form,
            "reviews": item.reviews.select_related("reviewed_by__organisation"),
            "submit_label": submit,
            "form_heading": heading,
            "for_officer": for_officer,
        },
    )


def _with_evidence(findings: Any) -> list[Finding]:
    rows = list(findings)
    for item in rows:
        item.evidence = evidence_rows(item.numbers)
    return rows


class InspectionForm(forms.Form):
    PERIOD_CHOICES = [("month", gettext_lazy("月次（指定月）")), ("fiscal_year", gettext_lazy("年度"))]
    period = forms.ChoiceField(label=gettext_lazy("対象"), choices=PERIOD_CHOICES)
    year = forms.IntegerField(label=gettext_lazy("年（年度）"), min_value=2012, max_value=2100)
    month = forms.IntegerField(label=gettext_lazy("月"), min_value=1, max_value=12, required=False)


@system_admin_only
@require_http_methods(["GET", "POST"])
def inspections(request: AuthenticatedHttpRequest) -> HttpResponse:
    now = timezone.now().astimezone(JST)
    form = InspectionForm(request.POST or None, initial={"period": "month", "year": now.year, "month": now.month})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["period"] == "fiscal_year":
            start, end = fiscal_year_bounds(data["year"])
            label = _("%(year)d年度 点検") % {"year": data["year"]}
        else:
            month = data["month"] or now.month
            start, end = month_bounds(data["year"], month)
            label = _("%(year)d年%(month)d月 点検") % {"year": data["year"], "month": month}
        run = inspection_create(period_start=start, period_end=end, label=label, requested_by=request.user)
        return redirect("audit:inspection", pk=run.pk)
    runs = InspectionRun.objects.all()[:50]
    return render(request, "audit/inspections.html", {"form": form, "runs": runs})


@system_admin_only
def inspection(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(InspectionRun, pk=pk)
    findings = run.findings.select_related("user", "organisation")
    state = request.GET.get("state", "")
    if state in ReviewState.values:
        findings = findings.filter(review_state=state)
    running = run.status in (InspectionRunStatus.QUEUED, InspectionRunStatus.RUNNING)
    response = render(
        request,
        "audit/inspection.html",
        {
            "run": run,
            "findings": _with_evidence(findings[:1000]),
            "running": running,
            "states": ReviewState.choices,
            "state": state,
        },
    )
    if running:
        response["Refresh"] = "3"  # the progress page reloads itself: no script (the CSP allows none inline)
    return response


class ReviewForm(forms.Form):
    state = forms.ChoiceField(
        label=gettext_lazy("確認結果"),
        choices=[
            (ReviewState.EXPLAINED, ReviewState.EXPLAINED.label),
            (ReviewState.ESCALATED, ReviewState.ESCALATED.label),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(label=gettext_lazy("所見"), widget=forms.Textarea(attrs={"rows": 4}), max_length=4000)


@system_admin_only
@require_http_methods(["GET", "POST"])
def finding(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Finding.objects.select_related("run", "user", "organisation"), pk=pk)
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        finding_review(
            finding=item,
            state=form.cleaned_data["state"],
            note=form.cleaned_data["note"],
            actor=request.user,
            request=request,
        )
        messages.success(request, _("確認結果を記録しました。"))
        return redirect("audit:finding", pk=item.pk)
    return _finding_page(request, item, form, submit=_("記録する"), heading=_("確認結果の記録"), for_officer=False)


def _fiscal_year_or_404(year: int) -> int:
    if not 2012 <= year <= fiscal_year_of(timezone.now()):
        raise Http404
    return year


@system_admin_only
def reports_index(request: AuthenticatedHttpRequest) -> HttpResponse:
    current = fiscal_year_of(timezone.now())
    return render(request, "audit/reports.html", {"years": list(range(current, current - 6, -1))})


@system_admin_only
def report_page(request: AuthenticatedHttpRequest, year: int) -> HttpResponse:
    data = reports.fiscal_year_report(_fiscal_year_or_404(year))
    month_labels = [f"{m.month}月" for m in data.months]
    return render(
        request,
        "audit/report.html",
        {
            "report": data,
            "chart": reports.bar_chart(data.per_month, month_labels),
            "heat": reports.heat_levels(data.heatmap),
            "hours": range(24),
            # Context "曜日": "月" is also the month field's label; literal calls so makemessages extracts them.
            "weekdays": [
                *(pgettext("曜日", "月"), pgettext("曜日", "火"), pgettext("曜日", "水"), pgettext("曜日", "木")),
                *(pgettext("曜日", "金"), pgettext("曜日", "土"), pgettext("曜日", "日")),
            ],
            "month_labels": month_labels,
        },
    )


@system_admin_only
def report_xlsx(request: AuthenticatedHttpRequest, year: int) -> StreamingHttpResponse:
    data = reports.fiscal_year_report(_fiscal_year_or_404(year))
    response = StreamingHttpResponse(
        reports.xlsx_stream(data), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="audit-report-FY{year}.xlsx"'
    return response


@system_admin_only
def report_records_csv(request: AuthenticatedHttpRequest, year: int) -> StreamingHttpResponse:
    start, end = fiscal_year_bounds(_fiscal_year_or_404(year))
    response = StreamingHttpResponse(reports.raw_csv_stream(start, end), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="access-records-FY{year}.csv"'
    return response


class DisclosureFilterForm(forms.Form):
    year = forms.TypedChoiceField(label=gettext_lazy("年度"), coerce=int, required=False)
    facility = forms.CharField(label=gettext_lazy("設備ID（任意）"), required=False, max_length=20)

    def __init__(self, *args: Any, years: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["year"]).choices = [
            (year, _("%(year)d年度") % {"year": year}) for year in years
        ]


@signed_in(OrganisationKind.OPERATOR)
def operator_disclosure_log(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A certified operator's account of who (which organisations) viewed or exported its facilities.

    A facility named in the parameters goes through get_visible_facility_or_404 first: another operator's is
    answered exactly like an unknown one (404, recorded), so the page confirms nothing about it."""
    person = request.user
    current = fiscal_year_of(timezone.now())
    years = list(range(current, current - 6, -1))
    form = DisclosureFilterForm(request.GET or None, years=years)
    year, facility_ids = current, None
    if form.is_valid():
        year = form.cleaned_data["year"] or current
        wanted = form.cleaned_data["facility"].strip().upper()
        if wanted:
            facility_ids = [get_visible_facility_or_404(person, wanted, request=request).facility_id]
    elif form.is_bound:
        raise Http404  # a year outside the offered ones, or a malformed facility: nothing to answer
    start, end = fiscal_year_bounds(year)
    lines = operator_disclosures(user=person, start=start, end=end, facility_ids=facility_ids)
    shown = sorted({line.facility_id for line in lines})
    if shown:
        disclose(request, facility_ids=shown, fields=["facility_id"], kind="list")
    return render(
        request,
        "audit/disclosures.html",
        {"form": form, "lines": lines, "year": year, "organisation": person.organisation},
    )
