"""The exceptions of the service layer: ServiceError and its subclasses (and BackendError,
ShapeError from workbench.backends, which actions pass on). The tree, with what each means, is
drawn in workbench/errors.py.

Every ServiceError is raised before any part of the work is written: the catalog is as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from workbench.backends.base import BackendError, ShapeError
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.services.models import RemovalReport

# How many unknown ids an error message lists before it says "and N more".
_SHOWN_IDS = 10


class ServiceError(WorkbenchError):
    """An action the service refused; nothing was written."""


class ConfirmationRequired(ServiceError):
    """A destructive action needs confirm=True. `plan` is what it would remove."""

    def __init__(self, plan: RemovalReport) -> None:
        super().__init__(
            f"{plan.action} would remove {plan.describe()}: pass confirm=True to do it, "
            "or dryrun=True to see this without an error"
        )
        self.plan = plan


class UnknownIds(ServiceError):
    """Ids that name nothing of their kind (scenes, inputs, projects, frames...)."""

    def __init__(self, kind: str, ids: Iterable[str]) -> None:
        self.kind = kind
        self.ids = tuple(sorted(set(ids)))
        shown = ", ".join(repr(i) for i in self.ids[:_SHOWN_IDS])
        more = len(self.ids) - _SHOWN_IDS
        tail = f" and {more} more" if more > 0 else ""
        super().__init__(f"unknown {kind}: {shown}{tail}")


class InvalidArgument(ServiceError):
    """A value the action cannot take; `argument` names it when one argument is at fault."""

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


class LabelSchemaError(InvalidArgument):
    """A label schema the run cannot use, naming the field at fault and the problem."""

    def __init__(self, field: str | None, problem: str) -> None:
        super().__init__(f"label field {field!r}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


class SceneSpecError(InvalidArgument):
    """Scenes that cannot be built: one line per scene at fault."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        shown = "; ".join(self.problems[:_SHOWN_IDS])
        more = len(self.problems) - _SHOWN_IDS
        super().__init__(shown + (f"; and {more} more" if more > 0 else ""))


class RequestTooLarge(InvalidArgument):
    """A call whose arguments are larger than the HTTP server accepts (its body limit)."""


class Conflict(ServiceError):
    pass


class StateError(ServiceError):
    pass


__all__ = [
    "BackendError",
    "ConfirmationRequired",
    "Conflict",
    "InvalidArgument",
    "LabelSchemaError",
    "RequestTooLarge",
    "SceneSpecError",
    "ServiceError",
    "ShapeError",
    "StateError",
    "UnknownIds",
]
