"""What a test reads from a page of the served app: text, tooltips and markup, shadow roots
included (Panel keeps its components' content in shadow roots)."""

from __future__ import annotations

import re
from typing import Any

IDLE_JS = (
    "() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle"
)

# Every element of the page, shadow roots included, as a JS helper other snippets call.
_ALL_JS = """const allElements = () => {
  const out = [];
  const roots = [document];
  while (roots.length) {
    const root = roots.pop();
    for (const el of root.querySelectorAll('*')) {
      out.push(el);
      if (el.shadowRoot) roots.push(el.shadowRoot);
    }
  }
  return out;
};"""

# What a person can read: the page's text in document order, shadow roots included (scripts
# and styles left out), tooltips (title attributes), what text boxes hold, and what Bokeh
# draws on its canvases (figure titles).
SHOWN_JS = (
    "() => {"
    + _ALL_JS
    + """
  const deep = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return node.textContent;
    if (node.nodeName === 'STYLE' || node.nodeName === 'SCRIPT') return '';
    let text = node.shadowRoot ? deep(node.shadowRoot) : '';
    for (const child of node.childNodes) text += deep(child);
    return text;
  };
  const titles = [], values = [];
  for (const el of allElements()) {
    if (el.hasAttribute('title')) titles.push(el.getAttribute('title'));
    if (el.nodeName === 'INPUT' || el.nodeName === 'TEXTAREA') values.push(el.value);
  }
  const drawn = [];
  for (const doc of (window.Bokeh ? Bokeh.documents : [])) {
    for (const model of doc.all_models) {
      if (model.type === 'Title' && model.text) drawn.push(model.text);
    }
  }
  return {text: deep(document.body), titles, values, drawn};
}"""
)

# Markup that came from data: an event handler attribute, a javascript: URL, an element a
# payload would have made, or a script with the payloads' flag in it.
MARKUP_JS = (
    "() => {"
    + _ALL_JS
    + """
  const found = [];
  for (const el of allElements()) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = attr.value.replace(/\\s/g, '').toLowerCase();
      if (name.startsWith('on')) found.push(`${el.nodeName} ${name}=${attr.value}`);
      if (['href', 'src', 'xlink:href', 'action', 'formaction'].includes(name) && value.startsWith('javascript:'))
        found.push(`${el.nodeName} ${name}=${attr.value}`);
    }
    if (el.nodeName === 'SCRIPT' && el.textContent.includes('__xss')) found.push('SCRIPT ' + el.textContent);
  }
  return found;
}"""
)


def shown(page: Any) -> dict[str, Any]:
    return page.evaluate(SHOWN_JS)


def assert_clean(page: Any, *values: str, where: str = "text") -> dict[str, Any]:
    """No payload ran (`window.__xss` unset), none became markup, and each of `values` is on
    the page as the literal text it is: in text (`where="text"`), a tooltip ("titles"), a text
    box ("values") or a Bokeh canvas ("drawn")."""
    assert page.evaluate("window.__xss") is None, "a payload ran"
    assert page.evaluate(MARKUP_JS) == []
    seen = shown(page)
    for value in values:
        if where == "text":
            assert value in seen["text"], f"{value!r} is not shown as text"
        else:
            assert any(value in item for item in seen[where]), f"{value!r} not in {where}"
    return seen


def idle(page: Any) -> None:
    page.wait_for_function(IDLE_JS)


def wait_shown(page: Any, value: str, where: str = "text", timeout_ms: float = 30_000) -> None:
    """Wait until `value` is on the page (see `assert_clean` for `where`)."""
    page.wait_for_function(
        f"([value, where]) => {{ const seen = ({SHOWN_JS})(); "
        "return where === 'text' ? seen.text.includes(value) "
        ": seen[where].some((item) => item.includes(value)); }",
        arg=[value, where],
        timeout=timeout_ms,
    )
    idle(page)


def tile(page: Any, tile_id: str) -> Any:
    """The grid tile of a context or frame id (ids are payloads: no CSS selector for them)."""
    handle = page.evaluate_handle(
        "(id) => {" + _ALL_JS + " return allElements().find((t) => t.classList.contains('wb-tile')"
        " && (t.dataset.contextId ?? t.dataset.frameId) === id) ?? null; }",
        tile_id,
    )
    element = handle.as_element()
    assert element is not None, f"no tile {tile_id!r}"
    return element


def click_button(page: Any, selector: str) -> None:
    page.locator(f"{selector} button").first.click()
    idle(page)


def hover_until(page: Any, box_selector: str, value: str) -> None:
    """Move the mouse over a grid of points of the first `box_selector` until a Bokeh
    tooltip shows `value`."""
    box = page.locator(box_selector).first.bounding_box()
    assert box is not None
    for fy in (0.5, 0.4, 0.6, 0.3, 0.7):
        for fx in (0.35, 0.3, 0.45, 0.25, 0.5, 0.6, 0.2):
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            page.wait_for_timeout(60)
            if value in tooltip_text(page):
                return
    raise AssertionError(f"no tooltip showed {value!r}")


def tooltip_text(page: Any) -> str:
    return page.evaluate(
        "() => {"
        + _ALL_JS
        + " return allElements().filter((el) => [...el.classList].some((c) => /tooltip/.test(c)))"
        ".map((el) => el.textContent).join('\\n'); }"
    )


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
