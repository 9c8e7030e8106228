// Visible form controls without an accessible name (see accessibility.py).
(() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
  .filter((el) => el.getBoundingClientRect().width > 0)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby")
                  && !(el.type === "submit" || el.type === "button"))
  .map((el) => el.outerHTML.slice(0, 120)))
