"""Sequence QA: timing, cameras, frozen pictures and tracks, checked in SQL per context.

    report = catalog.sequence_qa()                 # every check, default thresholds
    report.counts()                                # {"gap": 2, "frozen": 1, ...}
    catalog.view().match_qa("gap")                 # the frames after a gap
    catalog.sql("SELECT * FROM qa_issues WHERE severity = 'error'")

See docs/sequence-qa.md.
"""

from workbench.analysis.sequence_qa.checks import SEQUENCE_CHECKS, Thresholds
from workbench.analysis.sequence_qa.run import (
    QaReport,
    frames_of,
    list_issues,
    sequence_qa,
    thresholds_of,
)
from workbench.model.sequence import QA_KINDS, SEVERITIES

__all__ = [
    "QA_KINDS",
    "SEQUENCE_CHECKS",
    "SEVERITIES",
    "QaReport",
    "Thresholds",
    "frames_of",
    "list_issues",
    "sequence_qa",
    "thresholds_of",
]
