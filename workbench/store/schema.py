"""The catalog schema, its version, and forward migrations.

The tables here are public API: people write SQL against them. docs/catalog.md documents them
column by column; change both together, and add a migration rather than editing a past one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb

from workbench.store import layout_build, layout_hashes, line_digests


@dataclass(frozen=True)
class Unbatched:
    """A migration step run before its version's transaction, on a connection holding none:
    a rewrite too big for one transaction, committing stretches of its own. It must be
    safe to run again after an interruption (the version's transaction completes it)."""

    run: Callable[[duckdb.DuckDBPyConnection], object]
    # Whether it rewrites only what a local catalog keeps: a lake-backed catalog skips it
    # (otherwise it refuses the migration, as the lake's rows would need rewriting by a job).
    local_only: bool = False


# A migration step: a statement, a function of the migrating connection (for steps that
# depend on the data), or an Unbatched rewrite.
Step = str | Callable[[duckdb.DuckDBPyConnection], None] | Unbatched

_V1: Sequence[str] = (
    """CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE datasets (
        id VARCHAR PRIMARY KEY,
        name VARCHAR,
        description VARCHAR,
        created TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE dataset_versions (
        dataset VARCHAR,
        version VARCHAR,
        parent VARCHAR,
        created TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (dataset, version))""",
    # No primary keys on the three big tables: the writer keeps ids unique, and index
    # maintenance would cost more than the ingest itself at a million frames.
    """CREATE TABLE frames (
        id VARCHAR NOT NULL,
        dataset VARCHAR,
        version VARCHAR,
        context_id VARCHAR NOT NULL,
        timestamp BIGINT,
        frame_index INTEGER,
        num_frames INTEGER,
        metadata JSON,
        weather VARCHAR,
        time_of_day VARCHAR,
        camera VARCHAR,
        location VARCHAR,
        saved TIMESTAMP,
        saved_in_version VARCHAR,
        ingested TIMESTAMP)""",
    """CREATE TABLE sources (
        frame_id VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        uri VARCHAR,
        width INTEGER,
        height INTEGER,
        content_type VARCHAR,
        timestamp BIGINT,
        preview_uri VARCHAR,
        masks JSON)""",
    """CREATE TABLE rois (
        frame_id VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        field VARCHAR NOT NULL,
        label VARCHAR,
        labels VARCHAR[],
        confidence DOUBLE,
        kind VARCHAR NOT NULL,
        geometry DOUBLE[][],
        x_min DOUBLE,
        y_min DOUBLE,
        x_max DOUBLE,
        y_max DOUBLE,
        area DOUBLE,
        source_ids VARCHAR[],
        mask JSON,
        attributes JSON,
        track_index INTEGER,
        keyframe BOOLEAN)""",
    """CREATE TABLE tags (
        frame_id VARCHAR NOT NULL,
        roi_id VARCHAR,
        tag VARCHAR NOT NULL,
        created TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE scenes (
        uuid VARCHAR PRIMARY KEY,
        external_id VARCHAR,
        scene_type VARCHAR NOT NULL,
        status VARCHAR NOT NULL DEFAULT 'pending',
        created TIMESTAMP DEFAULT current_timestamp,
        calibration_id VARCHAR,
        error_message VARCHAR,
        context_id VARCHAR,
        frame_ids VARCHAR[])""",
    """CREATE TABLE projects (
        id VARCHAR PRIMARY KEY,
        external_id VARCHAR UNIQUE,
        title VARCHAR,
        description VARCHAR,
        backend VARCHAR DEFAULT 'local',
        created TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE batches (
        id VARCHAR PRIMARY KEY,
        project_id VARCHAR NOT NULL,
        external_id VARCHAR,
        status VARCHAR NOT NULL DEFAULT 'open',
        created TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE requests (
        id VARCHAR PRIMARY KEY,
        project_id VARCHAR NOT NULL,
        batch_id VARCHAR,
        title VARCHAR,
        created TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE inputs (
        uuid VARCHAR PRIMARY KEY,
        scene_uuid VARCHAR NOT NULL,
        request_id VARCHAR,
        project_id VARCHAR NOT NULL,
        batch_id VARCHAR,
        status VARCHAR DEFAULT 'created',
        error_message VARCHAR,
        created TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE annotation_runs (
        anno_key VARCHAR PRIMARY KEY,
        backend VARCHAR NOT NULL,
        label_schema JSON,
        config JSON,
        view JSON,
        status VARCHAR,
        project_id VARCHAR,
        created TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE annotation_ids (
        anno_key VARCHAR NOT NULL,
        frame_id VARCHAR NOT NULL,
        roi_id VARCHAR,
        field VARCHAR,
        task_id VARCHAR,
        shape_id VARCHAR)""",
    """CREATE SEQUENCE audit_seq""",
    """CREATE TABLE audit_log (
        id BIGINT PRIMARY KEY DEFAULT nextval('audit_seq'),
        "at" TIMESTAMP DEFAULT current_timestamp,
        actor VARCHAR,
        action VARCHAR NOT NULL,
        target JSON,
        count INTEGER,
        dry_run BOOLEAN DEFAULT false,
        outcome VARCHAR,
        details JSON)""",
    """CREATE TABLE saved_views (
        name VARCHAR PRIMARY KEY,
        spec JSON NOT NULL,
        created TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE media_roots (path VARCHAR PRIMARY KEY)""",
)

# Version 2: annotation runs get a stable run_id (renaming a run renames nothing else), requests
# say which run they belong to, the id map says where each row came from, and the embedded
# local annotation platform keeps its tasks and shapes in the catalog itself.
_V2: Sequence[str] = (
    """ALTER TABLE annotation_runs ADD COLUMN run_id VARCHAR""",
    """ALTER TABLE annotation_runs ADD COLUMN batch_id VARCHAR""",
    """ALTER TABLE annotation_runs ADD COLUMN request_id VARCHAR""",
    """ALTER TABLE annotation_runs ADD COLUMN actor VARCHAR""",
    """ALTER TABLE annotation_runs ADD COLUMN loaded TIMESTAMP""",
    """ALTER TABLE requests ADD COLUMN run_id VARCHAR""",
    # 'upload': an existing label sent with the run; 'merge': a label the merge added.
    """ALTER TABLE annotation_ids ADD COLUMN origin VARCHAR""",
    # What each uploaded label looked like when it was sent: edit restrictions compare the
    # platform's result with this, not with the catalog (which may have changed since).
    """CREATE TABLE annotation_snapshots (
        anno_key VARCHAR NOT NULL,
        shape_id VARCHAR NOT NULL,
        frame_id VARCHAR NOT NULL,
        roi_id VARCHAR,
        field VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        label VARCHAR,
        confidence DOUBLE,
        geometry DOUBLE[][],
        mask JSON,
        attributes JSON,
        value JSON,
        track_index INTEGER,
        keyframe BOOLEAN,
        source_ids VARCHAR[])""",
    """CREATE TABLE local_tasks (
        id VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL,
        position INTEGER NOT NULL,
        status VARCHAR NOT NULL DEFAULT 'new',
        assignee VARCHAR,
        created TIMESTAMP DEFAULT current_timestamp,
        updated TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE local_task_frames (
        task_id VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        input_uuid VARCHAR,
        frame_id VARCHAR NOT NULL,
        position INTEGER NOT NULL,
        segment INTEGER NOT NULL)""",
    """CREATE TABLE local_shapes (
        run_id VARCHAR NOT NULL,
        task_id VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        frame_id VARCHAR NOT NULL,
        field VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        label VARCHAR,
        confidence DOUBLE,
        geometry DOUBLE[][],
        mask JSON,
        attributes JSON,
        value JSON,
        track_index INTEGER,
        keyframe BOOLEAN,
        source_ids VARCHAR[],
        updated TIMESTAMP DEFAULT current_timestamp)""",
)

# MIGRATIONS[n] upgrades a catalog at version n to version n + 1. Version 0 is an empty file.
# Bookkeeping of the CVAT backend: version 3 made its tables. Backends now declare their own
# tables and the store makes them on first use (store/ledger.py), so a new catalog gets none
# here; catalogs already at version 3 keep theirs, with the columns the backend declares.
_V3: Sequence[str] = (
    # (nothing: see above)
)

# Version 4: every import leaves a record (who, which files, how far it got, how it ended),
# and media roots say who declared them. Roots an older workbench inferred from the URIs of
# imported records are kept for review with origin 'inferred' and are no longer served.
_V4: Sequence[str] = (
    """CREATE TABLE imports (
        id VARCHAR PRIMARY KEY,
        actor VARCHAR,
        format VARCHAR NOT NULL,
        options JSON,
        files VARCHAR[],
        media_roots VARCHAR[],
        started TIMESTAMP NOT NULL,
        finished TIMESTAMP,
        status VARCHAR NOT NULL,
        pid INTEGER,
        host VARCHAR,
        batches INTEGER NOT NULL DEFAULT 0,
        frames BIGINT NOT NULL DEFAULT 0,
        sources BIGINT NOT NULL DEFAULT 0,
        rois BIGINT NOT NULL DEFAULT 0,
        refused BIGINT NOT NULL DEFAULT 0,
        warnings BIGINT NOT NULL DEFAULT 0,
        outside_media_roots BIGINT NOT NULL DEFAULT 0,
        errors JSON,
        error VARCHAR,
        resumes VARCHAR,
        superseded_by VARCHAR)""",
    """ALTER TABLE media_roots ADD COLUMN origin VARCHAR""",
    """ALTER TABLE media_roots ADD COLUMN added TIMESTAMP""",
    """UPDATE media_roots SET origin = 'inferred'""",
)


# Version 5: evaluation runs.
# Results of model evaluation (workbench.analysis.evaluation, docs/evaluation.md): one row per run
# in `evaluations`, and the outcome of every evaluated ROI and the counts of every evaluated frame
# keyed by the run's `run_id`, so renaming a run rewrites one row.
_V5: Sequence[str] = (
    """CREATE TABLE IF NOT EXISTS evaluations (
        eval_key VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL UNIQUE,
        kind VARCHAR NOT NULL,
        method VARCHAR NOT NULL,
        pred_field VARCHAR NOT NULL,
        gt_field VARCHAR NOT NULL,
        config JSON NOT NULL,
        metrics JSON,
        results JSON,
        view JSON,
        frames BIGINT,
        rois BIGINT,
        seconds DOUBLE,
        actor VARCHAR,
        created TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE IF NOT EXISTS eval_rois (
        run_id VARCHAR NOT NULL,
        frame_id VARCHAR NOT NULL,
        roi_id VARCHAR NOT NULL,
        field VARCHAR NOT NULL,
        label VARCHAR,
        confidence DOUBLE,
        outcome VARCHAR NOT NULL,
        match_id VARCHAR,
        iou DOUBLE,
        crowd BOOLEAN)""",
    """CREATE TABLE IF NOT EXISTS eval_frames (
        run_id VARCHAR NOT NULL,
        frame_id VARCHAR NOT NULL,
        tp INTEGER NOT NULL,
        fp INTEGER NOT NULL,
        fn INTEGER NOT NULL)""",
)


# Version 6: embeddings, similarity, duplicates and sequence QA.
# (workbench.analysis.embeddings, .similarity, .duplicates, .sequence_qa; docs/embeddings.md,
# docs/sequence-qa.md). The vectors of each embedding key live in a table of their own,
# `emb_<key>` (frame_id[, roi_id], vector FLOAT[n], computed), made when the key is first
# written: its width is the model's. `embeddings` lists the keys.
_V6: Sequence[str] = (
    """CREATE TABLE IF NOT EXISTS embeddings (
        key VARCHAR PRIMARY KEY,
        target VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        dimension INTEGER NOT NULL,
        table_name VARCHAR NOT NULL,
        count BIGINT NOT NULL DEFAULT 0,
        computed TIMESTAMP,
        options JSON,
        created TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE IF NOT EXISTS projection_runs (
        key VARCHAR NOT NULL,
        method VARCHAR NOT NULL,
        params_hash VARCHAR NOT NULL,
        params JSON NOT NULL,
        fingerprint VARCHAR NOT NULL,
        count BIGINT NOT NULL,
        seconds DOUBLE,
        created TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (key, method, params_hash))""",
    """CREATE TABLE IF NOT EXISTS projections (
        key VARCHAR NOT NULL,
        method VARCHAR NOT NULL,
        params_hash VARCHAR NOT NULL,
        frame_id VARCHAR NOT NULL,
        roi_id VARCHAR,
        x FLOAT NOT NULL,
        y FLOAT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS embedding_scores (
        key VARCHAR NOT NULL,
        frame_id VARCHAR NOT NULL,
        roi_id VARCHAR,
        uniqueness DOUBLE,
        representativeness DOUBLE,
        computed TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS media_hashes (
        frame_id VARCHAR NOT NULL,
        source_id VARCHAR NOT NULL,
        uri VARCHAR,
        size BIGINT,
        mtime_ns BIGINT,
        content_hash VARCHAR,
        phash UBIGINT,
        error VARCHAR,
        computed TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS duplicate_groups (
        kind VARCHAR NOT NULL,
        group_id INTEGER NOT NULL,
        rank INTEGER NOT NULL,
        frame_id VARCHAR NOT NULL,
        source_id VARCHAR,
        roi_id VARCHAR,
        key VARCHAR,
        distance DOUBLE,
        created TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE IF NOT EXISTS qa_issues (
        kind VARCHAR NOT NULL,
        severity VARCHAR NOT NULL,
        context_id VARCHAR NOT NULL,
        frame_id VARCHAR,
        source_id VARCHAR,
        field VARCHAR,
        track INTEGER,
        details JSON,
        created TIMESTAMP DEFAULT current_timestamp)""",
)

# Version 7: the layout for browsing at scale (workbench/store/layout.py, docs/scale.md):
# integer frame keys on frames, sources and ROIs (sources and ROIs rewritten clustered by
# frame), label keys, per-frame label summaries and metadata keys promoted to columns.
_LAYOUT: Sequence[Step] = (Unbatched(layout_build.build_keyed), layout_build.swap)
LAYOUT_MIGRATION = _LAYOUT

# Version 8: each frame's ROIs as codes of label and confidence bin (frame_codes), so the
# label counts and confidence histogram of a filtered view read one row per frame; their sum
# over the catalog (code_counts) answers them for the whole catalog.
_CODES: Sequence[Step] = (Unbatched(layout_build.build_codes), layout_build.swap)

# Version 9: keypoints, an ROI kind of its own: the visibility of each point (COCO's v: 0 not
# labelled, 1 labelled but not visible, 2 visible) on the ROI, and the names of a label's
# points and the skeleton drawn between them once per label (`keypoint_labels`), not on
# every ROI. Skeleton pairs number the points from 1, as COCO does.
_KEYPOINTS: Sequence[Step] = (
    """ALTER TABLE rois ADD COLUMN IF NOT EXISTS visibility TINYINT[]""",
    """CREATE TABLE IF NOT EXISTS keypoint_labels (
        label VARCHAR PRIMARY KEY,
        names VARCHAR[] NOT NULL,
        skeleton INTEGER[][],
        updated TIMESTAMP DEFAULT current_timestamp)""",
)

# Version 10: frame_codes holds a row for every frame (an empty list for a frame without
# ROIs) in the stored order of frames, so a filtered view's ROI codes are read beside its
# frames, the WHERE evaluated in the same scan (layout.CODES_ALIGNED, query/facets.py).
# A lake-backed catalog skips it: its codes are never read beside its frames.
# Version 10 also keys each frame's context with a small integer (frames.context_key, table
# context_keys), so the facets count a view's contexts over integers.
_ALIGNED: Sequence[Step] = (
    Unbatched(layout_build.align_codes, local_only=True),
    Unbatched(layout_build.key_all_contexts, local_only=True),
    layout_build.swap,
)

# Version 11: ROI codes stored as INTEGERs (BIGINTs before): a filtered view's facets unnest
# them, and a narrower list took a third less CPU to unnest and count at 10M frames
# (layout.MAX_CODED_LABEL). The codes are built again, in stretches, row for row beside the
# frames. A lake-backed catalog skips it: its codes' files are read whatever their type.
# Version 11 also keys each frame's values of the promoted keys (weather, time_of_day,
# camera, location) together as one small integer (frames.values_key, table value_keys), so
# the facets count them by one integer grouping.
_NARROW: Sequence[Step] = (
    Unbatched(layout_build.narrow_codes, local_only=True),
    Unbatched(layout_build.key_all_values, local_only=True),
    layout_build.swap,
)

# Version 12: summaries of the whole catalog kept at every write (store/summaries.py): a
# row per context (its frames, time span and first frame) and the frames of each values
# key, so the app's first page (the catalog's contexts, their first page, the promoted
# keys' values) reads a row per context or per values key instead of every frame. A
# lake-backed catalog skips it.
_SUMMARIES: Sequence[Step] = (Unbatched(layout_build.summarise_catalog, local_only=True),)

# Version 13: the digest of the NDJSON line each ClearML frame was converted from, kept
# beside the frame (store/line_digests.py), so that importing the same file again leaves the
# lines of frames stored as they were unconverted. Frames of older catalogs have none: their
# lines are converted as before, and digested then.
_LINE_DIGESTS: Sequence[Step] = (
    """CREATE TABLE IF NOT EXISTS _line_digests (
    frame_key BIGINT NOT NULL,
    digest UBIGINT NOT NULL,
    line_bytes INTEGER NOT NULL,
    frame_hash UBIGINT NOT NULL,
    sources INTEGER NOT NULL,
    rois INTEGER NOT NULL)""",
)

# Version 14: each line digest names its file and the line's number in it, written in line
# order, so a batch of lines looks up only the digests of its own stretch of its file: the
# lookup's cost follows the batch, not the catalog. The digests of version 13 name neither:
# they are dropped (the next import of each file converts its lines once, as a catalog from
# before version 13 does, and digests them again).
_LINE_PLACES: Sequence[Step] = (f"DROP TABLE IF EXISTS {line_digests.TABLE}", line_digests.DDL)

# Version 15: each frame's and context's id hashed beside its key (store/layout_hashes.py),
# so a write finds which of its frames and contexts are stored by a join of integers and a
# check of the candidates' rows by key, not a join on every stored id: its cost follows the
# batch, not the catalog. Made empty: the first write's look-up hashes what is stored.
_ID_HASHES: Sequence[Step] = layout_hashes.TABLES

MIGRATIONS: list[Sequence[Step]] = [
    *(_V1, _V2, _V3, _V4, _V5, _V6),
    *(_LAYOUT, _CODES, _KEYPOINTS, _ALIGNED, _NARROW, _SUMMARIES, _LINE_DIGESTS, _LINE_PLACES),
    _ID_HASHES,
]

SCHEMA_VERSION = len(MIGRATIONS)

PUBLIC_TABLES: tuple[str, ...] = (
    "datasets",
    "dataset_versions",
    "frames",
    "sources",
    "rois",
    "tags",
    "scenes",
    "projects",
    "batches",
    "requests",
    "inputs",
    "annotation_runs",
    "annotation_ids",
    "audit_log",
    "saved_views",
    "media_roots",
    "imports",
    "evaluations",
    "eval_rois",
    "eval_frames",
    "embeddings",
    "projection_runs",
    "projections",
    "embedding_scores",
    "media_hashes",
    "duplicate_groups",
    "qa_issues",
    "label_keys",
    "frame_labels",
    "frame_codes",
    "code_counts",
    "context_keys",
    "value_keys",
    "context_summaries",
    "value_counts",
    "metadata_columns",
    "keypoint_labels",
)
