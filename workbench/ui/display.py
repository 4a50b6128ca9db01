"""How the viewer draws a frame's ROIs: which classes, how opaque each field, label texts.

`DisplayOptions` holds what a person chose (per class visibility, per field opacity, label
text on shapes, the sample view taking the screen); `styled` applies it to the glyph columns
of `workbench.ui.glyphs` without changing how they are made: rows of hidden classes go, and
every row gets its alpha columns. `label_texts` puts each shape's label at its top-left
corner. Plain functions over column dicts, so they are tested without a browser.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import param

from workbench.ui.glyphs import Columns, SourceGlyphs

# Alpha columns every glyph source carries (line and fill), and the fill's share of it.
ALPHA_COLUMNS = ("alpha", "fill_alpha")
FILL_SHARE = 0.15
TEXT_COLUMNS = ("x", "y", "text", "color", "alpha")


class DisplayOptions(param.Parameterized):
    """What the viewer shows of the open frame's ROIs (the fields shown are the state's
    `visible_fields`)."""

    hidden_classes = param.List(default=[], item_type=str, doc="Labels not drawn.")
    opacity = param.Dict(default={}, doc="Label field -> opacity from 0 to 1 (default 1).")
    label_text = param.Boolean(default=True, doc="Write each shape's label on it.")
    expanded = param.Boolean(default=False, doc="The sample view takes the screen.")

    def field_opacity(self, field: str) -> float:
        value = self.opacity.get(field, 1.0)
        return min(max(float(value), 0.0), 1.0)

    def set_opacity(self, field: str, value: float) -> None:
        self.opacity = {**self.opacity, field: min(max(float(value), 0.0), 1.0)}

    def toggle_class(self, label: str) -> None:
        hidden = list(self.hidden_classes)
        self.hidden_classes = (
            [c for c in hidden if c != label] if label in hidden else [*hidden, label]
        )


def keep_rows(columns: Columns, keep: Sequence[bool]) -> Columns:
    """The rows of `columns` where `keep` is true."""
    return {
        name: [v for v, k in zip(values, keep, strict=True) if k]
        for name, values in columns.items()
    }


def with_alpha(columns: Columns, opacity: Callable[[str], float]) -> Columns:
    """`columns` with the alpha columns of each row's field."""
    alphas = [opacity(str(f)) for f in columns.get("field", [])]
    return {**columns, "alpha": alphas, "fill_alpha": [a * FILL_SHARE for a in alphas]}


def styled(glyphs: SourceGlyphs, options: DisplayOptions) -> SourceGlyphs:
    """The glyph columns of one source as `options` say: hidden classes dropped, alphas set."""
    hidden = set(options.hidden_classes)

    def style(columns: Columns) -> Columns:
        if hidden:
            columns = keep_rows(columns, [label not in hidden for label in columns["label"]])
        return with_alpha(columns, options.field_opacity)

    return dataclasses.replace(
        glyphs,
        shapes=style(glyphs.shapes),
        lines=style(glyphs.lines),
        points=style(glyphs.points),
        masks=style(glyphs.masks),
        badges=[b for b in glyphs.badges if b.label not in hidden],
    )


def empty_text_columns() -> Columns:
    return {name: [] for name in TEXT_COLUMNS}


def label_texts(glyphs: SourceGlyphs) -> Columns:
    """One text per shape, line and point group: its label (and confidence) at its top-left
    corner, in its colour and alpha."""
    out = empty_text_columns()
    for columns in (glyphs.shapes, glyphs.lines):
        for i, label in enumerate(columns["label"]):
            xs, ys = _flat(columns["xs"][i]), _flat(columns["ys"][i])
            if xs and ys:
                _add_text(out, columns, i, min(xs), min(ys), label)
    return out


def _add_text(out: Columns, columns: Mapping[str, list[Any]], i: int, x: float, y: float,
              label: str) -> None:  # fmt: skip
    confidence = _number(columns["confidence"][i])
    out["x"].append(x)
    out["y"].append(y)
    out["text"].append(str(label) if confidence is None else f"{label} {confidence:.2f}")
    out["color"].append(columns["color"][i])
    out["alpha"].append(columns["alpha"][i] if "alpha" in columns else 1.0)


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _flat(nested: Any) -> list[float]:
    """Every number of a nested list (multi_polygons nest three deep, multi_line one)."""
    if isinstance(nested, int | float):
        return [float(nested)]
    out: list[float] = []
    for item in nested or []:
        out.extend(_flat(item))
    return out
