"""Duplicates: byte copies, re-encoded and resized copies, near copies by embedding; views."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from workbench.errors import AnalysisError
from workbench.model.records import Frame, Source
from workbench.query.view import View
from workbench.store.catalog import Catalog

from .emb_data import picture, write_frames

DIFFERENT = 8  # pictures of distinct seeds


@pytest.fixture
def copies(tmp_path: Path) -> Catalog:
    """Distinct pictures a0..a7, plus: b0 a byte copy of a0, b1 a re-encoded a1 (JPEG quality
    60), b2 a resized a2 (half size, PNG), b3 a byte copy of a3 in the same context."""
    media = tmp_path / "media"
    media.mkdir()
    frames = []
    for i in range(DIFFERENT):
        picture(100 + i, (320, 240)).save(media / f"a{i}.jpg", quality=95)
    shutil.copyfile(media / "a0.jpg", media / "b0.jpg")
    from PIL import Image

    Image.open(media / "a1.jpg").save(media / "b1.jpg", quality=60)
    Image.open(media / "a2.jpg").resize((160, 120)).save(media / "b2.png")
    shutil.copyfile(media / "a3.jpg", media / "b3.jpg")
    names = [f"a{i}.jpg" for i in range(DIFFERENT)] + ["b0.jpg", "b1.jpg", "b2.png", "b3.jpg"]
    for n, name in enumerate(names):
        context = "ctx-a" if name.startswith("a") or name == "b3.jpg" else "ctx-b"
        frames.append(
            Frame(
                id=name.split(".")[0],
                context_id=context,
                timestamp=n * 100,
                sources=[Source("cam", str(media / name))],
            )
        )
    catalog = write_frames(tmp_path / "dups.duckdb", frames, media)
    yield catalog
    catalog.close()


def _groups(results, kind):
    return sorted(g.frame_ids for g in results.of(kind))


def test_copies_are_found_and_different_pictures_are_not(copies: Catalog):
    results = copies.find_duplicates(kinds=["exact", "perceptual"], progress=False)
    assert _groups(results, "exact") == [("a0", "b0"), ("a3", "b3")]
    assert _groups(results, "perceptual") == [
        ("a0", "b0"),
        ("a1", "b1"),
        ("a2", "b2"),
        ("a3", "b3"),
    ]
    assert results.extra_frame_ids() == ["b0", "b1", "b2", "b3"]
    exact = results.of("exact")[0]
    assert exact.kept == "a0" and exact.copies == ("b0",) and exact.distances == (0.0, 0.0)
    stored = copies.sql(
        "SELECT kind, group_id, rank, frame_id, source_id FROM duplicate_groups ORDER BY kind, group_id, rank"
    ).fetchall()
    assert stored[:2] == [("exact", 0, 0, "a0", "cam"), ("exact", 0, 1, "b0", "cam")]
    hashes = copies.sql(
        "SELECT count(*), count(content_hash), count(phash) FROM media_hashes"
    ).fetchall()
    assert hashes == [(12, 12, 12)]


def test_embedding_near_copies(copies: Catalog):
    copies.compute_embeddings(progress=False)
    results = copies.find_duplicates(kinds="embedding", threshold=0.01, progress=False)
    assert _groups(results, "embedding") == [("a0", "b0"), ("a1", "b1"), ("a2", "b2"), ("a3", "b3")]
    assert results.key == "descriptor"
    distances = [g.distances[1] for g in results.of("embedding")]
    assert all(0 <= d <= 0.01 for d in distances)
    vectors = np.array(
        [v for (v,) in copies.sql("SELECT vector FROM emb_descriptor ORDER BY frame_id").fetchall()]
    )
    sims = vectors[:DIFFERENT] @ vectors[:DIFFERENT].T
    assert 1 - sims[np.triu_indices(DIFFERENT, 1)].max() > 0.01  # distinct pictures stay apart
    default = copies.find_duplicates(progress=False)
    assert default.kinds == ("exact", "perceptual", "embedding")


def test_scope_across_contexts_ignores_copies_within_one(copies: Catalog):
    results = copies.find_duplicates(kinds=["exact"], scope="across_contexts", progress=False)
    assert _groups(results, "exact") == [("a0", "b0")]


def test_duplicate_views_keep_one_per_group_or_the_extra_copies(copies: Catalog):
    copies.find_duplicates(kinds=["exact", "perceptual"], progress=False)
    view = copies.view()
    assert view.match_duplicates("perceptual").frame_ids() == [
        "a0",
        "b0",
        "a1",
        "b1",
        "a2",
        "b2",
        "a3",
        "b3",
    ]
    assert view.match_duplicates("perceptual", which="first").frame_ids() == [
        "a0",
        "a1",
        "a2",
        "a3",
    ]
    assert view.match_duplicates("exact", which="extra").frame_ids() == ["b0", "b3"]
    assert sorted(view.exclude_duplicates("perceptual").frame_ids()) == [
        f"a{i}" for i in range(DIFFERENT)
    ]
    assert view.exclude_duplicates().count() == DIFFERENT
    spec = view.match_duplicates("exact", which="extra").to_dict()
    assert spec["stages"] == [
        {"stage": "match_duplicates", "duplicate_kind": "exact", "which": "extra"}
    ]
    assert View.from_dict(copies, spec).frame_ids() == ["b0", "b3"]
    # a new search of a kind replaces its groups
    shutil.copyfile(
        copies.path.parent / "media" / "a5.jpg", copies.path.parent / "media" / "b0.jpg"
    )
    copies.find_duplicates(kinds=["exact"], progress=False)  # hashes are kept...
    assert copies.view().match_duplicates("exact", which="extra").frame_ids() == ["b0", "b3"]
    copies.find_duplicates(kinds=["exact"], refresh=True, progress=False)  # ...until refreshed:
    # b0 is now a copy of a5
    assert copies.view().match_duplicates("exact", which="extra").frame_ids() == ["b3", "b0"]


def test_bad_options_are_refused(copies: Catalog):
    for options in (
        {"kinds": ["fuzzy"]},
        {"threshold": 1.5},
        {"hash_distance": 40},
        {"hash_distance": True},
        {"scope": "everywhere"},
    ):
        with pytest.raises(AnalysisError):
            copies.find_duplicates(progress=False, **options)
    with pytest.raises(AnalysisError, match="no embeddings"):
        copies.find_duplicates(kinds="embedding", progress=False)


def test_unreadable_pictures_are_recorded_and_skipped(copies: Catalog):
    (copies.path.parent / "media" / "a6.jpg").write_bytes(b"broken")
    results = copies.find_duplicates(kinds=["exact"], progress=False)
    assert any("frame 'a6'" in e for e in results.hash_errors)
    row = copies.sql(
        "SELECT content_hash, error FROM media_hashes WHERE frame_id = 'a6'"
    ).fetchall()
    assert row[0][0] is None and "a6.jpg" in row[0][1]
