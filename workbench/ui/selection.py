"""What a person has selected: frames, the contexts they belong to, and scenes.

`Selection` is the frozen value handed to actions (`app.selection`). `SelectionBuilder` is the
mutable bookkeeping behind clicks: each picked tile remembers the frames it stood for when it
was picked, so a later change of query does not silently change what is selected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from workbench.ui.wording import plural

# How many ids of each kind the repr shows, and how much of each id.
REPR_IDS = 3
REPR_ID_CHARS = 48


def _some(ids: tuple[str, ...]) -> str:
    shown = [
        repr(i if len(i) <= REPR_ID_CHARS else i[: REPR_ID_CHARS - 1] + "…") for i in ids[:REPR_IDS]
    ]
    if len(ids) > REPR_IDS:
        shown.append(f"… {len(ids) - REPR_IDS} more")
    return "[" + ", ".join(shown) + "]"


@dataclass(frozen=True, repr=False)
class Selection:
    """Selected frame ids, the ids of their contexts, and scene uuids (in selection order).

    Its repr is short whatever the size (counts and the first few ids of each kind): a
    notebook prints it often, and a selection can hold a million frames.
    """

    frame_ids: tuple[str, ...] = ()
    context_ids: tuple[str, ...] = ()
    scene_uuids: tuple[str, ...] = ()
    # How many frames are selected; a field (not a property) so asdict() and JSON carry it.
    count: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "count", len(self.frame_ids))

    def __repr__(self) -> str:
        return (
            f"Selection({self.count} frames {_some(self.frame_ids)},"
            f" {len(self.context_ids)} contexts {_some(self.context_ids)},"
            f" {len(self.scene_uuids)} scenes {_some(self.scene_uuids)})"
        )

    def __bool__(self) -> bool:
        return bool(self.frame_ids or self.scene_uuids)

    def summary(self) -> str:
        if not self:
            return "nothing selected"
        contexts = plural(len(self.context_ids), "context")
        text = f"{plural(self.count, 'frame')} in {contexts} selected"
        if self.scene_uuids:
            text += f", {plural(len(self.scene_uuids), 'scene')}"
        return text


@dataclass(frozen=True)
class Pick:
    """One picked tile: a context (with its matching frames) or a single frame."""

    key: str
    context_id: str
    frame_ids: tuple[str, ...]


class SelectionBuilder:
    """Picked tiles in the order they were picked, and the anchor of shift-click ranges."""

    def __init__(self) -> None:
        self._picks: dict[str, Pick] = {}
        self.anchor: str | None = None

    def __contains__(self, key: str) -> bool:
        return key in self._picks

    def clear(self) -> None:
        self._picks.clear()
        self.anchor = None

    def add(self, picks: Iterable[Pick]) -> None:
        for pick in picks:
            self._picks[pick.key] = pick

    def remove(self, key: str) -> None:
        self._picks.pop(key, None)

    def snapshot(self) -> Selection:
        frames: dict[str, None] = {}
        contexts: dict[str, None] = {}
        for pick in self._picks.values():
            contexts[pick.context_id] = None
            frames.update(dict.fromkeys(pick.frame_ids))
        return Selection(frame_ids=tuple(frames), context_ids=tuple(contexts))


def click_range(order: Sequence[str], anchor: str | None, key: str) -> list[str]:
    """The keys from `anchor` to `key` inclusive in page order; just `key` without an anchor
    on the page (the anchor was on another page or the page changed)."""
    if anchor is None or anchor not in order or key not in order:
        return [key]
    i, j = order.index(anchor), order.index(key)
    lo, hi = min(i, j), max(i, j)
    return list(order[lo : hi + 1])
