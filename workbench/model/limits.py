"""The bounds every importer checks before it does any work on a record, and the size of
picture a header may claim.

One record is one NDJSON line, one item of a JSON array, one image or video file, one Parquet
row. Each bound is checked before the expensive step it protects (parsing, decoding, storing),
so the work per record is bounded and an import stays linear in time and memory whatever the
file holds. A record past a bound is refused with a RecordError naming it; the rest is stored.
docs/formats/validation.md lists them with what happens at each.
"""

from __future__ import annotations

# -- reading ---------------------------------------------------------------------------------
# Bytes of one record as read: one NDJSON line, one item of a JSON array, or a whole file that
# holds a single frame or scene. Longer records are skipped without being held in memory.
MAX_RECORD_BYTES = 16 * 1024 * 1024
# Nesting of arrays and objects inside one record, counted while the bytes are scanned and
# before anything is parsed (a ClearML frame is about 5 deep, a Labelbox line about 10).
MAX_JSON_DEPTH = 64

# -- pictures --------------------------------------------------------------------------------
# Pixels (width x height) a picture's header may claim. Pillow calls anything above this a
# decompression bomb (twice its own warning limit); importers refuse it from the header alone,
# before anything is decoded (workbench/media/images.py).
MAX_IMAGE_PIXELS = 178_956_970

# -- values ----------------------------------------------------------------------------------
# Characters of an id (frame, source, ROI, context, dataset) and of a label.
MAX_ID_LENGTH = 1024
MAX_LABEL_LENGTH = 1024
# Characters of a source, preview or mask URI (PATH_MAX on Linux).
MAX_URI_LENGTH = 4096
# Bytes of one JSON column of one row, as stored: a frame's metadata, an ROI's attributes or
# mask, a source's masks. Bounds every string and list inside them too.
MAX_JSON_FIELD_BYTES = 4 * 1024 * 1024
# Labels of one ROI, sources and ROIs of one frame.
MAX_LABELS_PER_ROI = 1000
MAX_SOURCES_PER_FRAME = 1000
MAX_ROIS_PER_FRAME = 100_000

# -- geometry --------------------------------------------------------------------------------
# Rings of one ROI and points over all its rings (a point is an x, y pair).
MAX_RINGS_PER_ROI = 10_000
MAX_POINTS_PER_ROI = 1_000_000
# Pixel coordinates must be finite and within this distance of the origin; areas and boxes
# derived from them then stay finite.
MAX_COORDINATE = 10_000_000.0

# -- numbers ---------------------------------------------------------------------------------
# Timestamps (frames and sources) are integers of this magnitude at most: 2**53 - 1, the
# largest integer a float64, and so a browser, holds exactly (ms since the epoch: year 287396).
MAX_TIMESTAMP = 2**53 - 1
# Columns stored as INTEGER (frame_index, num_frames, width, height, track_index).
MAX_INT32 = 2**31 - 1
# ClearML `saved` (ms since the epoch) must be a date Python can represent: years 1 to 9999.
MIN_SAVED_MS = -62_135_596_800_000
MAX_SAVED_MS = 253_402_300_799_999

# -- reports ---------------------------------------------------------------------------------
# Record errors an IngestReport keeps in full; past this they are only counted.
MAX_KEPT_ERRORS = 1000

__all__ = [
    "MAX_COORDINATE",
    "MAX_ID_LENGTH",
    "MAX_IMAGE_PIXELS",
    "MAX_INT32",
    "MAX_JSON_DEPTH",
    "MAX_JSON_FIELD_BYTES",
    "MAX_KEPT_ERRORS",
    "MAX_LABELS_PER_ROI",
    "MAX_LABEL_LENGTH",
    "MAX_POINTS_PER_ROI",
    "MAX_RECORD_BYTES",
    "MAX_RINGS_PER_ROI",
    "MAX_ROIS_PER_FRAME",
    "MAX_SAVED_MS",
    "MAX_SOURCES_PER_FRAME",
    "MAX_TIMESTAMP",
    "MAX_URI_LENGTH",
    "MIN_SAVED_MS",
]
