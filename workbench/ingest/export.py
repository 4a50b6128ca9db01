"""What every exporter returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
