"""Values from data are shown as text: the one way the UI puts anything into HTML.

Labels, ids, metadata, tags, names, reasons and error messages come from files and requests
other people made, so none of them reaches the page as markup:

- `Html` is a string of markup the UI wrote itself. `html(template, *values)` fills a literal
  template with values escaped (numbers as they are), `text(value)` is one value escaped, and
  `join(parts)` joins them; nothing else makes an `Html`.
- `TextPane` (for `pn.pane.HTML`) and `TextAlert` (for `pn.pane.Alert`, which renders Markdown
  and the raw HTML in it) show anything that is not an `Html` as text: a value set on a pane
  without escaping shows its markup as characters, it never becomes markup.
- `LiveText` is a line of text that changes often (a page or frame position, a sample's title):
  drawn by a small component with `textContent`, a change is one small message and no
  layout of the page by Bokeh (a `TextPane` resends its stylesheets and is laid out again).
- `TextMultiChoice` (for `pn.widgets.MultiChoice`): Bokeh hands MultiChoice's option labels
  to Choices.js, which renders them as HTML (Choices.js 10's `allowHTML` defaults to true and
  Bokeh 3.10 neither sets it nor lets Python set it); its labels are escaped on their way to
  the browser, so they read as the text they are.

Bokeh's other widgets (Select, MultiSelect, AutocompleteInput, CheckBoxGroup, the button
groups, widget titles), figure titles and tuple hover tooltips (`("label", "@label")`, never
`{safe}`) put their strings into the page as text already. tests/ui/test_text.py keeps the ui
modules on these classes; tests/security/test_xss.py checks every surface in a browser.
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Iterable
from typing import Any, LiteralString

import panel as pn
import param

from workbench.ui.modules import ServedModule


class Html(str):
    """Markup the UI wrote, with every value in it escaped (made by `html`, `text`, `join`).
    Adding a plain string to it escapes that string."""

    __slots__ = ()

    def __add__(self, other: object) -> Html:
        return Html(str.__add__(self, text(other)))

    def __radd__(self, other: object) -> Html:
        return Html(str.__add__(text(other), self))


def text(value: object, *, quote: bool = True) -> Html:
    """`value` as text inside HTML: `<`, `>`, `&` and quotes escaped; None is empty. An `Html`
    is already markup and stays as it is. `quote=False` leaves quotes as they are, for text
    that goes between tags only (never into an attribute)."""
    if isinstance(value, Html):
        return value
    return Html(_html.escape("" if value is None else str(value), quote=quote))


def html(template: LiteralString, *values: object, **named: object) -> Html:
    """`template.format(...)` with every value escaped; ints and floats go in as they are, so
    `{:.2f}` works on them. The template is markup the UI wrote, never a value from data."""
    return Html(template.format(*map(_field, values), **{k: _field(v) for k, v in named.items()}))


def join(parts: Iterable[object], separator: LiteralString = "") -> Html:
    """`parts` one after the other; a part that is not `Html` is escaped."""
    return Html(separator.join(text(part) for part in parts))


def css_class(prefix: LiteralString, value: object) -> str:
    """A CSS class naming a value from data (`wb-attribute-<name>`): characters other than
    ASCII letters, digits, `_` and `-` become `_`, so the class is one valid token whatever
    the value holds (a space in a class list breaks the page)."""
    return prefix + _NOT_CSS.sub("_", str(value))


_NOT_CSS = re.compile(r"[^A-Za-z0-9_-]")


def _field(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return text(value)


class TextPane(pn.pane.HTML):
    """An HTML pane that shows a plain string as text; only an `Html` object is markup."""

    def _transform_object(self, obj: Any) -> dict[str, Any]:
        return super()._transform_object(text(obj))


class TextAlert(pn.pane.Alert):
    """An alert box that shows a plain string as text (no Markdown, no HTML); only an `Html`
    object is markup."""

    def _transform_object(self, obj: Any) -> dict[str, Any]:
        return dict(self._escape_html(text(obj)))


class LiveText(ServedModule, pn.custom.JSComponent):
    """A line of text, `strong` (bold, may be empty) then `text`, both shown as text
    whatever they hold. Made for text that changes at every page or frame: the browser
    sets two `textContent`s, Bokeh lays nothing out again. With a `channel`, the line also
    shows the [strong, text] pair the viewer announces with each frame it draws (its
    position's `s`, frame_view.js): what changes at every frame comes with the frame."""

    text = param.String(default="", doc="The text, after `strong`.")
    strong = param.String(default="", doc="Bold text before `text` ('' for none).")
    channel = param.String(default="", doc="The viewer's announcements to follow ('' none).")

    _esm = """
    export function render({ model }) {
      const root = document.createElement("span");
      root.className = "wb-live-text";
      const strong = document.createElement("b");
      const rest = document.createElement("span");
      function show(first, second) {
        strong.textContent = String(first ?? "");
        rest.textContent = String(second ?? "");
      }
      model.on(["text", "strong"], () => show(model.strong, model.text));
      show(model.strong, model.text);
      const channel = String(model.channel ?? "");
      if (channel) {
        const heard = (event) => {
          const said = event.detail;
          if (said && said.channel === channel && Array.isArray(said.s)) show(said.s[0], said.s[1]);
        };
        document.addEventListener("wb-position", heard);
        model.on("remove", () => document.removeEventListener("wb-position", heard));
      }
      root.append(strong, rest);
      return root;
    }
    """

    @property
    def shown(self) -> str:
        """What the line reads."""
        return self.strong + self.text


class TextMultiChoice(pn.widgets.MultiChoice):
    """A MultiChoice whose option labels are shown as text (see the module's docstring).

    Panel sends each option's label as its Bokeh value and maps it back; the value stays the
    label itself, and only the label Choices.js draws is escaped."""

    def _process_param_change(self, params: dict[str, Any]) -> dict[str, Any]:
        props = super()._process_param_change(params)
        if "options" in props:
            props["options"] = [choice_option(label) for label in props["options"]]
        return props


def choice_option(option: object) -> tuple[str, str]:
    """A Bokeh MultiChoice option, a label or `(value, label)`, as `(value, escaped label)`:
    Choices.js then shows the label's text."""
    value, label = option if isinstance(option, tuple | list) else (option, option)
    return str(value), str(text(label))
