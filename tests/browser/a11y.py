"""Accessibility checks for the browser tests: axe-core's rules, and the focus ring's contrast.

axe-core comes with ``axe-playwright-python`` (requirements-dev.txt); it is injected through
Playwright's evaluate, which the pages' Content-Security-Policy does not govern. axe does not
check focus indicators, so ``focus_ring_report`` tabs through a page and measures each ring
against what it is drawn on (WCAG 2.2: 2.4.7 visible, 1.4.11 ≥ 3:1 non-text contrast).
"""

import pytest

MIN_FOCUS_CONTRAST = 3.0
MIN_FOCUS_WIDTH = 2.0

_RING = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const lum = ({r, g, b}) => {
    const f = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const style = getComputedStyle(el);
  // The ring sits outside the element (outline-offset): measure it against the parent's fill.
  let node = el.parentElement, bg = null;
  while (node) {
    const c = parse(getComputedStyle(node).backgroundColor);
    if (c && c.a > 0) { bg = c; break; }
    node = node.parentElement;
  }
  bg = bg || {r: 255, g: 255, b: 255, a: 1};
  const ring = parse(style.outlineColor);
  const width = style.outlineStyle === "none" ? 0 : parseFloat(style.outlineWidth);
  let ratio = 0;
  if (ring && width > 0) {
    const [hi, lo] = [lum(ring), lum(bg)].sort((x, y) => y - x);
    ratio = (hi + 0.05) / (lo + 0.05);
  }
  return {
    tag: el.tagName.toLowerCase(), type: el.type || "", id: el.id,
    text: (el.innerText || el.value || "").slice(0, 30),
    width, ratio: Math.round(ratio * 100) / 100,
  };
}"""


def focus_ring_report(page, *, presses: int = 40) -> list[dict]:
    """Tab ``presses`` times from the top of the page; the ring of each element focused."""
    page.evaluate(
        "() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }"
    )
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        ring = page.evaluate(_RING)
        if ring is not None:
            seen.append(ring)
    return seen


def assert_focus_rings_visible(page, *, presses: int = 40) -> list[dict]:
    rings = focus_ring_report(page, presses=presses)
    assert rings, "nothing took the focus"
    weak = [
        ring
        for ring in rings
        if ring["ratio"] < MIN_FOCUS_CONTRAST or ring["width"] < MIN_FOCUS_WIDTH
    ]
    assert weak == [], weak
    return rings


def axe_violations(page) -> list[dict]:
    """axe-core's violations on the page as it is now (skips if axe is not installed)."""
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
    results = axe_module.Axe().run(page)
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results.response["violations"]
    ]
