"""What adding or computing embeddings did: counts, and the first refusals by record id."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ERRORS = 20


@dataclass
class EmbeddingReport:
    """Vectors written, ids skipped because the key already had them, records refused (with
    the first MAX_ERRORS reasons, each naming its frame or ROI id)."""

    key: str
    model: str = ""
    written: int = 0
    skipped: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def refuse(self, where: str, problem: str) -> None:
        self.refused += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(f"{where}: {problem}")

    @property
    def ok(self) -> bool:
        return self.refused == 0

    def __str__(self) -> str:
        text = (
            f"embeddings {self.key!r} ({self.model}): {self.written} written, "
            f"{self.skipped} already there, {self.refused} refused in {self.seconds:.1f} s"
        )
        return "\n".join([text, *(f"  {e}" for e in self.errors)])
