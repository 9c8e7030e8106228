"""Dates read naturally in each language; times are always Japan Standard Time."""

from __future__ import annotations

import datetime as dt

from django.template import Context, Template
from django.utils import timezone, translation

MOMENT = dt.datetime(2026, 11, 23, 5, 30, tzinfo=dt.UTC)  # 14:30 in Tokyo


def render(source: str, language: str) -> str:
    with translation.override(language), timezone.override("Asia/Tokyo"):
        return Template("{% load tz %}" + source).render(Context({"moment": MOMENT, "day": MOMENT.date()}))


def test_it_writes_dates_the_japanese_way_in_japanese() -> None:
    assert render("{{ day|date }}", "ja") == "2026年11月23日"
    assert render("{{ moment|date:'DATETIME_FORMAT' }}", "ja") == "2026年11月23日 14:30"


def test_it_writes_unambiguous_dates_in_english() -> None:
    assert render("{{ day|date }}", "en") == "23 Nov 2026"
    assert render("{{ moment|date:'SHORT_DATETIME_FORMAT' }}", "en") == "2026-11-23 14:30"
