"""Colours by label: the same label has the same colour on every page, frame and session."""

from __future__ import annotations

import zlib

# Saturated colours only (Category10 without its grey, then Set1 and Dark2): light tints
# vanish on bright pictures, and ROIs must stand out on any frame.
PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#e41a1c",
    "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628",
    "#f781bf", "#1b9e77", "#d95f02", "#7570b3", "#66a61e",
)  # fmt: skip
UNLABELLED = "#ffffff"


def label_color(label: str | None) -> str:
    """A colour for `label` from a hash of its text, not from the order labels were seen."""
    if not label:
        return UNLABELLED
    # crc32 is stable across processes, unlike hash() of a str.
    return PALETTE[zlib.crc32(label.encode("utf-8")) % len(PALETTE)]


# Evaluation outcomes (workbench.analysis.evaluation): found, false alarm, missed, not counted.
OUTCOME_COLOURS: dict[str, str] = {
    "tp": "#2ca02c",
    "fp": "#d62728",
    "fn": "#ff7f0e",
    "ignored": "#7f7f7f",
}


def outcome_color(outcome: str | None, label: str | None) -> str:
    """The outcome's colour, or the label's when the ROI has no outcome."""
    return OUTCOME_COLOURS.get(outcome or "", "") or label_color(label)
