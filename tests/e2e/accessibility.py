"""Accessibility checks run inside the page: text contrast (WCAG 2.2 AA) and labelled form controls."""

from __future__ import annotations

from playwright.sync_api import Page

# For each visible element that holds text directly, the contrast of its colour against the first opaque
# background behind it (AA: 4.5:1, or 3:1 for large text: ≥ 24px, or ≥ 18.66px bold).
CONTRAST_JS = """
() => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = ({r, g, b}) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a >= 0.99) return c; }
    return {r: 255, g: 255, b: 255, a: 1}; };
  const failures = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (style.visibility === "hidden" || style.display === "none" || box.width === 0 || box.height === 0) continue;
    if (el.closest(".visually-hidden, .skip-link, [aria-hidden='true']")) continue;
    const fg = parse(style.color), bg = background(el);
    const blended = {r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a)};
    const [hi, lo] = [lum(blended), lum(bg)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed) failures.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return failures;
}
"""

# Every visible form control has an accessible name (label, aria-label or aria-labelledby).
UNLABELLED_JS = """
() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
  .filter((el) => el.getBoundingClientRect().width > 0)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby")
                  && !(el.type === "submit" || el.type === "button"))
  .map((el) => el.outerHTML.slice(0, 120))
"""


def contrast_failures(page: Page) -> list[str]:
    return page.evaluate(CONTRAST_JS)


def unlabelled_controls(page: Page) -> list[str]:
    return page.evaluate(UNLABELLED_JS)
