"""Accessibility checks run inside the page: text contrast (WCAG 2.2 AA) and labelled form controls.

contrast.js: for each visible element that holds text directly, the contrast of its colour against the first
opaque background behind it (AA: 4.5:1, or 3:1 for large text: ≥ 24px, or ≥ 18.66px bold).
unlabelled.js: visible form controls with no label, aria-label or aria-labelledby.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

HERE = Path(__file__).parent
CONTRAST_JS = (HERE / "contrast.js").read_text(encoding="utf-8")
UNLABELLED_JS = (HERE / "unlabelled.js").read_text(encoding="utf-8")


def contrast_failures(page: Page) -> list[str]:
    return page.evaluate(CONTRAST_JS)


def unlabelled_controls(page: Page) -> list[str]:
    return page.evaluate(UNLABELLED_JS)


def page_overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (> 0 means sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
