"""What every exporter returns."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class ExportReport:
    dest: Path
    frames: int = 0
    rois: int = 0
    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.frames} frames, {self.rois} ROIs written to {self.dest}"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped:" + "".join(
                f"\n  {s}" for s in self.skipped[:20]
            )
        return text


@contextmanager
def written_atomically(target: Path) -> Iterator[IO[str]]:
    """A text file that replaces `target` once complete; a failed export leaves no partial file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w") as out:
            yield out
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
