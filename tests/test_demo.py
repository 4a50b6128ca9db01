"""The demo dataset: counts, determinism, the planted defects, the frame group, label bounds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import workbench
from workbench.demo import DemoSummary, build_demo, default_media_dir
from workbench.demo.defects import MISSING_LABELS_SQL
from workbench.errors import IngestError, MediaError
from workbench.media.files import resolve_media
from workbench.media.thumbnails import ThumbnailCache
from workbench.store import layout
from workbench.store.catalog import Catalog

pytestmark = pytest.mark.slow  # one full build (a few seconds) shared by the module

SAMPLE_CONTEXTS = ("vienna-0004", "zurich-0005")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Catalog, DemoSummary]]:
    folder = tmp_path_factory.mktemp("demo")
    catalog = workbench.open(folder / "demo.duckdb")
    summary = build_demo(catalog, folder / "media", progress=False)
    yield catalog, summary
    catalog.close()


def rows(catalog: Catalog, query: str, params: list[object] | None = None) -> list[tuple]:
    return catalog.cursor().execute(query, params or []).fetchall()


def test_counts(demo: tuple[Catalog, DemoSummary]):
    catalog, summary = demo
    assert (summary.frames, summary.contexts, summary.images) == (650, 9, 730)
    assert rows(catalog, "SELECT count(*), count(DISTINCT context_id) FROM frames") == [(650, 9)]
    assert rows(catalog, "SELECT count(*) FROM sources") == [(730,)]
    per_field = dict(rows(catalog, "SELECT field, count(*) FROM rois GROUP BY 1"))
    assert per_field == summary.rois
    assert set(per_field) == {"ground_truth", "predictions", "road_type"}
    assert per_field["road_type"] == 650
    sizes = dict(rows(catalog, "SELECT context_id, count(*) FROM frames GROUP BY 1"))
    assert min(sizes.values()) >= 30 and max(sizes.values()) <= 120
    assert rows(catalog, "SELECT id, name FROM datasets") == [("demo", "demo")]
    assert rows(catalog, "SELECT dataset, version FROM dataset_versions") == [("demo", "v1")]
    text = str(summary)
    assert "650 frames in 9 contexts" in text and "duplicate_context" in text


def test_every_kind_of_label_is_there(demo: tuple[Catalog, DemoSummary]):
    catalog, _ = demo
    kinds = dict(
        rows(catalog, "SELECT kind, count(*) FROM rois WHERE field = 'ground_truth' GROUP BY 1")
    )
    assert set(kinds) == {"box", "polygon", "polyline", "point", "mask"}
    labels = {
        r[0] for r in rows(catalog, "SELECT DISTINCT label FROM rois WHERE field = 'ground_truth'")
    }
    assert {
        "car",
        "truck",
        "bus",
        "pedestrian",
        "cyclist",
        "traffic_light",
        "lane_dashed",
        "lane_solid",
        "drivable_area",
    } <= labels
    # pedestrians are outlines with many points; some vehicle is cut into two visible parts
    assert (
        rows(
            catalog,
            "SELECT min(len(geometry[1])) FROM rois WHERE label = 'pedestrian' "
            "AND field = 'ground_truth'",
        )[0][0]
        >= 6
    )
    split = rows(catalog, "SELECT label FROM rois WHERE kind = 'polygon' AND len(geometry) = 2")
    assert split and {label for (label,) in split} <= {"car", "truck", "bus"}
    assert {
        r[0] for r in rows(catalog, "SELECT DISTINCT label FROM rois WHERE field = 'road_type'")
    } == {"urban", "highway", "residential"}
    # attributes and tracks
    attributes = rows(
        catalog,
        "SELECT attributes FROM rois WHERE label = 'car' AND field = 'ground_truth' LIMIT 1",
    )
    assert {"occluded", "truncated", "color"} <= set(json.loads(attributes[0][0]))
    tracks = rows(
        catalog,
        """
        SELECT f.context_id, r.track_index, count(*) AS n FROM rois r JOIN frames f ON f.id = r.frame_id
        WHERE r.field = 'ground_truth' AND r.label = 'car' GROUP BY ALL ORDER BY n DESC LIMIT 1""",
    )
    assert tracks[0][2] >= 20  # one car followed through at least 20 frames


def test_predictions_have_confidences_and_false_alarms(demo: tuple[Catalog, DemoSummary]):
    catalog, _ = demo
    lo, hi, missing = rows(
        catalog,
        "SELECT min(confidence), max(confidence), count(*) FILTER "
        "(WHERE confidence IS NULL) FROM rois WHERE field = 'predictions'",
    )[0]
    assert 0.0 < lo < 0.2 and 0.9 < hi <= 1.0 and missing == 0
    # more labelled road users than confident detections: the detector misses some
    gt = rows(
        catalog,
        "SELECT count(*) FROM rois WHERE field = 'ground_truth' AND kind IN ('box', 'polygon')",
    )
    sure = rows(
        catalog, "SELECT count(*) FROM rois WHERE field = 'predictions' AND confidence >= 0.5"
    )
    assert sure[0][0] < gt[0][0]


def test_metadata_and_timestamps(demo: tuple[Catalog, DemoSummary]):
    catalog, _ = demo
    combos = rows(catalog, "SELECT DISTINCT time_of_day, weather FROM frames")
    assert {t for t, _ in combos} == {"day", "dusk", "night"}
    assert {w for _, w in combos} == {"clear", "rain", "fog"}
    assert rows(
        catalog,
        "SELECT count(*) FROM frames WHERE camera IS NULL OR location IS NULL "
        "OR metadata->>'speed_kmh' IS NULL OR dataset <> 'demo' OR version <> 'v1'",
    ) == [(0,)]
    steps = rows(
        catalog,
        """
        SELECT min(d), avg(d), max(d), max(d) FILTER (WHERE id <> 'milan-0007/0060') FROM (
          SELECT id, timestamp - lag(timestamp) OVER (PARTITION BY context_id ORDER BY frame_index)
                 AS d
          FROM frames) WHERE d IS NOT NULL""",
    )[0]
    # 100 ms apart, but for the planted gap (6 frames dropped before milan-0007/0060)
    assert steps[0] > 80 and 95 < steps[1] < 110 and steps[3] < 120 and 690 < steps[2] < 720


def test_the_frame_group_has_three_cameras(demo: tuple[Catalog, DemoSummary]):
    catalog, _ = demo
    groups = rows(
        catalog,
        """
        SELECT f.id, list(s.id ORDER BY s.id) FROM frames f JOIN sources s ON s.frame_id = f.id
        WHERE f.context_id = 'lyon-0006' GROUP BY f.id""",
    )
    assert len(groups) == 40
    assert {tuple(ids) for _, ids in groups} == {("front", "front_left", "front_right")}
    named = rows(
        catalog,
        """
        SELECT DISTINCT r.source_ids FROM rois r JOIN frames f ON f.id = r.frame_id
        WHERE f.context_id = 'lyon-0006' AND r.kind <> 'classification'""",
    )
    assert {tuple(ids) for (ids,) in named} == {("front",), ("front_left",), ("front_right",)}
    # every side camera sees labelled road users
    seen = rows(
        catalog,
        """
        SELECT r.source_ids[1], count(*) FROM rois r JOIN frames f ON f.id = r.frame_id
        WHERE f.context_id = 'lyon-0006' AND r.field = 'ground_truth' AND r.track_index < 1000
        GROUP BY 1""",
    )
    assert len(seen) == 3 and min(n for _, n in seen) > 20


def test_rois_lie_within_their_pictures(demo: tuple[Catalog, DemoSummary]):
    catalog, _ = demo
    outside = rows(
        catalog,
        """
        SELECT r.frame_id, r.id FROM rois r JOIN sources s
          ON s.frame_id = r.frame_id AND s.id = r.source_ids[1]
        WHERE r.x_min < 0 OR r.y_min < 0 OR r.x_max > s.width OR r.y_max > s.height
           OR r.x_max < r.x_min OR r.y_max < r.y_min""",
    )
    assert outside == []
    unplaced = rows(
        catalog,
        "SELECT count(*) FROM rois WHERE kind <> 'classification' "
        "AND (x_min IS NULL OR len(source_ids) <> 1)",
    )
    assert unplaced == [(0,)]
    masks = rows(catalog, "SELECT mask FROM rois WHERE kind = 'mask'")
    assert len(masks) > 50
    first = json.loads(masks[0][0])
    assert first["value"] == 1
    with Image.open(first["uri"]) as mask:
        assert mask.size == (640, 360)
        assert np.unique(np.asarray(mask)).tolist() == [0, 1]


def test_media_are_served_from_one_registered_root(demo: tuple[Catalog, DemoSummary]):
    catalog, summary = demo
    assert catalog.media_roots() == [str(summary.media_dir)]
    uris = [u for (u,) in rows(catalog, "SELECT uri FROM sources")]
    uris += [
        json.loads(m)["uri"] for (m,) in rows(catalog, "SELECT mask FROM rois WHERE kind = 'mask'")
    ]
    for uri in uris:
        assert resolve_media(uri, catalog.media_roots()).is_file()


def _findings(catalog: Catalog, sql: str) -> list[tuple]:
    return catalog.sql(sql).fetchall()  # through the read-only guard, as a person would


def test_missing_labels_are_found_by_confident_predictions(demo: tuple[Catalog, DemoSummary]):
    catalog, summary = demo
    missing = [d for d in summary.defects if d.kind == "missing_labels"]
    assert {d.context_ids for d in missing} == {("berlin-0001",), ("hamburg-0002",)}
    for defect in missing:
        assert len(defect.frame_ids) >= 10
        found = _findings(catalog, defect.sql)
        assert {frame_id for _, frame_id, _, _ in found} == set(defect.frame_ids)
    # nothing else in the catalog looks like a missed object
    everywhere = {frame_id for _, frame_id, _, _ in _findings(catalog, MISSING_LABELS_SQL)}
    assert everywhere == {f for d in missing for f in d.frame_ids}


def test_a_truck_is_labelled_car_for_a_stretch(demo: tuple[Catalog, DemoSummary]):
    catalog, summary = demo
    (wrong,) = [d for d in summary.defects if d.kind == "wrong_label"]
    found = _findings(catalog, wrong.sql)
    assert [(ctx, labels) for ctx, _, labels, _ in found] == [("munich-0003", ["car", "truck"])]
    track = found[0][1]
    as_car = rows(
        catalog,
        "SELECT frame_id FROM rois WHERE field = 'ground_truth' AND label = 'car' "
        "AND track_index = ? AND frame_id LIKE 'munich-0003/%'",
        [track],
    )
    assert {f for (f,) in as_car} == set(wrong.frame_ids)
    assert 20 <= len(wrong.frame_ids) <= 41


def test_one_image_is_broken(demo: tuple[Catalog, DemoSummary], tmp_path: Path):
    catalog, summary = demo
    (broken,) = [d for d in summary.defects if d.kind == "broken_image"]
    [(frame_id, uri)] = _findings(catalog, broken.sql)
    assert frame_id == broken.frame_ids[0] == "vienna-0004/0033"
    with pytest.raises(MediaError, match=r"0033_front\.jpg"):
        ThumbnailCache(tmp_path).get(uri, 64)
    unreadable = []
    for (path,) in rows(catalog, "SELECT uri FROM sources"):
        try:
            with Image.open(path) as image:
                image.load()
        except OSError:
            unreadable.append(path)
    assert unreadable == [uri]


def test_one_context_is_a_copy_of_another(demo: tuple[Catalog, DemoSummary]):
    catalog, summary = demo
    (duplicate,) = [d for d in summary.defects if d.kind == "duplicate_context"]
    assert _findings(catalog, duplicate.sql) == [("amsterdam-0008", "amsterdam-0009", 60)]
    pairs = rows(
        catalog,
        """
        SELECT a.uri, b.uri FROM sources a JOIN sources b
          ON b.frame_id = replace(a.frame_id, 'amsterdam-0008', 'amsterdam-0009') AND b.id = a.id
        WHERE a.frame_id LIKE 'amsterdam-0008/%' ORDER BY a.frame_id""",
    )
    assert len(pairs) == 60
    for a, b in pairs[::7]:
        assert a != b and Path(a).read_bytes() == Path(b).read_bytes()


TABLES = ("frames", "sources", "rois")


def _context_rows(catalog: Catalog, media_dir: Path) -> dict[str, list[tuple]]:
    where = "WHERE context_id IN (SELECT unnest(?::VARCHAR[]))"
    ids = f"SELECT id FROM frames {where}"
    prefix = str(media_dir)
    # Keys and copies the store derives differ between catalogs built in another order.
    con = catalog.cursor()
    derived = {t: ", ".join(sorted(layout.derived_columns(con, t))) for t in TABLES}
    queries = {
        "frames": f"SELECT * EXCLUDE (ingested, {derived['frames']}) FROM frames {where}"
        " ORDER BY id",
        "sources": f"SELECT * EXCLUDE ({derived['sources']}) REPLACE (replace(uri, ?, '') AS"
        f" uri) FROM sources WHERE frame_id IN ({ids}) ORDER BY frame_id, id",
        "rois": f"SELECT * EXCLUDE ({derived['rois']}) REPLACE (replace(mask, ?, '') AS mask)"
        f" FROM rois WHERE frame_id IN ({ids}) ORDER BY frame_id, id",
    }
    contexts = list(SAMPLE_CONTEXTS)
    return {
        "frames": rows(catalog, queries["frames"], [contexts]),
        "sources": rows(catalog, queries["sources"], [prefix, contexts]),
        "rois": rows(catalog, queries["rois"], [prefix, contexts]),
    }


def test_the_same_seed_gives_the_same_rows_and_files(
    demo: tuple[Catalog, DemoSummary], tmp_path: Path
):
    catalog, summary = demo
    with workbench.open(tmp_path / "again.duckdb") as again:
        second = build_demo(again, progress=False, contexts=SAMPLE_CONTEXTS)
        assert second.media_dir == default_media_dir(tmp_path / "again.duckdb").resolve()
        assert second.media_dir == (tmp_path / "again.media" / "demo").resolve()
        assert [d.kind for d in second.defects] == ["broken_image"]
        first_rows = _context_rows(catalog, summary.media_dir)
        second_rows = _context_rows(again, second.media_dir)
    assert len(first_rows["rois"]) > 1000
    assert first_rows == second_rows
    files = sorted(
        p.relative_to(second.media_dir) for p in second.media_dir.rglob("*") if p.is_file()
    )
    assert len(files) == 130 + 7 + 6  # pictures and masks of both contexts
    for name in files[::5]:
        assert (summary.media_dir / name).read_bytes() == (second.media_dir / name).read_bytes()


def test_another_seed_gives_other_pictures(tmp_path: Path, demo: tuple[Catalog, DemoSummary]):
    _, summary = demo
    with workbench.open(tmp_path / "other.duckdb") as other:
        result = build_demo(
            other, tmp_path / "m", seed=8, progress=False, contexts=["zurich-0005"], workers=1
        )
    assert result.frames == 60
    name = Path("zurich-0005") / "0030_front.jpg"
    assert (result.media_dir / name).read_bytes() != (summary.media_dir / name).read_bytes()


def test_unknown_contexts_are_refused(tmp_path: Path):
    with (
        workbench.open(tmp_path / "c.duckdb") as catalog,
        pytest.raises(IngestError, match="nowhere-0001"),
    ):
        build_demo(catalog, tmp_path / "m", progress=False, contexts=["nowhere-0001"])
