"""The kinds of sequence QA issue (docs/sequence-qa.md): what the checks find and what views
and the app filter on."""

from __future__ import annotations

QA_KINDS: tuple[str, ...] = (
    "gap",
    "duplicate_timestamp",
    "out_of_order",
    "jitter",
    "missing_source",
    "frozen",
    "short_track",
    "id_switch",
    "jump",
    "vanish",
)
SEVERITIES: tuple[str, ...] = ("info", "warning", "error")
