"""What an import did (IngestReport), and how any exception raised while reading one record
becomes that record's error."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from workbench.errors import MediaError, RecordError, WorkbenchError
from workbench.model.limits import MAX_KEPT_ERRORS
from workbench.model.validation import FORBIDDEN_CHARACTERS

MAX_OUTSIDE_EXAMPLES = 3


@dataclass
class IngestReport:
    """What an import did: counts of what was stored, the records it refused (with their
    errors) and the warnings about what it stored, counted by kind.

    `outside_media_roots` counts the stored local URIs (sources, previews, masks) whose files
    lie outside every media root: they are kept as given but never served; `outside_examples`
    holds the first few. `import_id` names the import's record in the catalog's `imports`
    table.
    """

    frames: int = 0
    rois: int = 0
    rejected: int = 0
    errors: list[RecordError] = field(default_factory=list)
    sources: int = 0
    warnings: dict[str, int] = field(default_factory=dict)
    # The first record each kind of warning was about.
    warning_examples: dict[str, str] = field(default_factory=dict)
    outside_media_roots: int = 0
    outside_examples: list[str] = field(default_factory=list)
    import_id: str | None = None

    def __str__(self) -> str:
        text = f"{self.frames} frames, {self.rois} ROIs stored; {self.rejected} records rejected"
        if self.warnings:
            text += f"; {sum(self.warnings.values())} warnings"
        for kind, count in sorted(self.warnings.items()):
            first = printable(str(self.warning_examples.get(kind)))
            text += f"\n  warning: {count} {kind} (first: {first})"
        shown = "".join(f"\n  {printable(str(err))}" for err in self.errors[:20])
        more = self.rejected - min(len(self.errors), 20)
        text += shown + (f"\n  ... and {more} more" if more > 0 else "")
        if self.outside_media_roots:
            first = ", ".join(repr(uri) for uri in self.outside_examples)
            text += (
                f"\n  {self.outside_media_roots} URIs lie outside the media roots and will "
                f"not be served (first: {first}); declare their folder with --media-root DIR "
                "(media_roots=[...] in Python) or `workbench media-roots add DIR`"
            )
        return text

    def note_outside(self, uri: str, times: int = 1) -> None:
        """Count a stored URI (`times` times) whose file lies outside every media root."""
        self.outside_media_roots += times
        if len(self.outside_examples) < MAX_OUTSIDE_EXAMPLES:
            self.outside_examples.append(uri)

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    def copy(self) -> IngestReport:
        """A copy whose counts and lists change independently of this one."""
        return replace(
            self,
            errors=list(self.errors),
            warnings=dict(self.warnings),
            warning_examples=dict(self.warning_examples),
            outside_examples=list(self.outside_examples),
        )

    def reject(self, error: RecordError) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(error)

    def warn(self, kind: str, where: str, count: int = 1) -> None:
        self.warnings[kind] = self.warnings.get(kind, 0) + count
        self.warning_examples.setdefault(kind, where)


# Characters a terminal would act on or reorder (those no id or label may hold): shown
# escaped, so that a file name or id from the data cannot forge lines of the report or hide
# what it says.
_UNPRINTABLE = FORBIDDEN_CHARACTERS


def printable(text: str) -> str:
    """`text` with control, bidirectional and surrogate characters written as escapes."""
    return _UNPRINTABLE.sub(
        lambda m: m.group().encode("unicode_escape", "backslashreplace").decode(), text
    )


def record_error(exc: BaseException, where: str) -> RecordError:
    """Any exception raised while reading, converting or storing one record, as its error."""
    if isinstance(exc, RecordError):
        return exc
    if isinstance(exc, MediaError):
        return RecordError(where, str(exc).removeprefix(f"{where}: "))
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= 200 else text[:200] + "..."
    return RecordError(where, f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def is_record_failure(exc: BaseException) -> bool:
    """Whether an exception is one record's fault: anything but a WorkbenchError that stops the
    whole import (IngestError, CatalogError) or an interruption."""
    if isinstance(exc, RecordError | MediaError):
        return True
    return isinstance(exc, Exception) and not isinstance(exc, WorkbenchError)
