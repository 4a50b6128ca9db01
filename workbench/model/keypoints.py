"""What a label's keypoints are: the names of its points, in the order every keypoints ROI of
that label holds them, and the skeleton (pairs of points drawn joined, numbered from 1 as
COCO numbers them). Kept once per label in the catalog (`keypoint_labels`), not on each ROI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workbench.errors import RecordError
from workbench.model.limits import MAX_LABEL_LENGTH, MAX_POINTS_PER_ROI

__all__ = ["KeypointLabel", "keypoint_label", "keypoint_triplets"]


@dataclass(frozen=True, slots=True)
class KeypointLabel:
    label: str
    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...] = ()


def keypoint_label(label: str, names: Any, skeleton: Any, where: str) -> KeypointLabel:
    """A label's keypoints from a file's values; RecordError (naming `where`) when malformed:
    names must be distinct non-empty strings, the skeleton pairs of point numbers 1..n."""
    if not isinstance(names, list) or not names or len(names) > MAX_POINTS_PER_ROI:
        raise RecordError(where, "keypoints must be a non-empty list of point names")
    if not all(isinstance(n, str) and 0 < len(n) <= MAX_LABEL_LENGTH for n in names):
        raise RecordError(where, "every keypoint name must be a non-empty string")
    if len(set(names)) != len(names):
        raise RecordError(where, "a keypoint name appears twice")
    pairs = [] if skeleton is None else skeleton
    if not isinstance(pairs, list) or not all(_is_pair(p, len(names)) for p in pairs):
        raise RecordError(
            where, f"skeleton must be a list of [a, b] point numbers from 1 to {len(names)}"
        )
    return KeypointLabel(label, tuple(names), tuple((int(a), int(b)) for a, b in pairs))


def _is_pair(pair: Any, count: int) -> bool:
    return (
        isinstance(pair, list)
        and len(pair) == 2
        and all(type(n) is int and 1 <= n <= count for n in pair)
    )


def keypoint_triplets(ring: Sequence[float], visibility: Sequence[int]) -> list[float | int]:
    """A keypoints ROI as COCO's flat [x, y, v, ...]; whole-number coordinates as integers."""
    out: list[float | int] = []
    for n, v in enumerate(visibility):
        out += [_number(ring[2 * n]), _number(ring[2 * n + 1]), int(v)]
    return out


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(f"{value:.12g}")
