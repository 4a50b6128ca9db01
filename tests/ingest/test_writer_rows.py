"""The columnar way into the writer (`write_rows`): what it counts and keys without a look-up
per row, checked against the per-URI check and the catalog's own keys."""

from pathlib import Path

import pyarrow as pa
import pytest

import workbench
from workbench.ingest._uris import not_remote
from workbench.ingest.writer import CatalogWriter, RowBatch
from workbench.media.files import MediaRootCheck
from workbench.model.records import FRAME_SCHEMA, ROI_SCHEMA, SOURCE_SCHEMA


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


def _batch(ids: list[str], uris: list[str], *, source_order: list[int] | None = None) -> RowBatch:
    """Frames `ids` of one context with one source each (`uris`), the sources in
    `source_order` (default: the frames' order)."""
    count = len(ids)
    frames = {f.name: pa.nulls(count, f.type) for f in FRAME_SCHEMA if f.name != "ingested"}
    frames |= {"id": pa.array(ids), "context_id": pa.array(["c"] * count)}
    order = source_order if source_order is not None else list(range(count))
    sources = {f.name: pa.nulls(count, f.type) for f in SOURCE_SCHEMA}
    sources |= {
        "frame_id": pa.array([ids[i] for i in order]),
        "id": pa.array(["image"] * count),
        "uri": pa.array([uris[i] for i in order]),
    }
    rois = pa.schema([f for f in ROI_SCHEMA if f.name != "visibility"]).empty_table()
    return RowBatch(pa.table(frames), pa.table(sources), rois)


# URIs on both sides of every rule MediaRootCheck has for remote ones (media/files.py).
_URIS = [
    "s3://bucket/a.jpg",
    "S3://BUCKET/A.JPG",
    "gs://b/x.png",
    "http://host/a.jpg?x=1#y",
    "a+b-c.d://x",  # a dot is no scheme character here: local
    "a+b-c://x",
    "+://x",
    "://x",
    "ab:c://x",
    "é://x",
    "1://x",
    "s3:/x",
    "s3:x",
    "file:///tmp/a.jpg",
    "FILE:///tmp/a.jpg",
    "file://otherhost/a.jpg",
    "data:image/png;base64,AAAA",
    "Data:image/png;base64,AAAA",
    "data:\x00",
    "s3://a\x00b",
    "s3://" + "a" * 5000,
    "data:" + "a" * 5000,
    "/tmp/a.jpg",
    "relative/a.jpg",
    "a.jpg",
    ".",
    "..",
]


def test_only_uris_the_media_check_takes_for_remote_ones_are_left_out():
    check = MediaRootCheck(["/tmp"])
    kept = not_remote(pa.array([*_URIS, None, ""], pa.string())).to_pylist()
    assert kept == [uri for uri in _URIS if check.folder_of(uri) is not None]


def test_local_files_outside_the_roots_are_counted_among_remote_uris(catalog, tmp_path):
    media, elsewhere = tmp_path / "media", tmp_path / "elsewhere"
    media.mkdir()
    elsewhere.mkdir()
    catalog.add_media_roots([media], origin="option")
    uris = [f"s3://bucket/{n}.jpg" for n in range(50)]
    uris += [str(media / "in.jpg"), str(elsewhere / "out.jpg"), f"file://{elsewhere}/b.jpg"]
    uris += [f"FILE://{media}/c.jpg", "file://otherhost/d.jpg", "data:image/png;base64,AA"]
    check = MediaRootCheck([media])
    expected = sum(check.is_outside(uri) for uri in uris)
    with CatalogWriter(catalog, progress=False) as writer:
        writer.write_rows(_batch([f"f{n}" for n in range(len(uris))], uris))
    assert expected == 4  # out.jpg, file://.../b.jpg, FILE:// (not read as a file), otherhost
    assert writer.report.outside_media_roots == expected


@pytest.mark.parametrize("order", ["as the frames", "reversed"])
def test_sources_take_their_own_frames_keys(catalog, order):
    ids = [f"f{n}" for n in range(300)]
    uris = [f"s3://bucket/{n}.jpg" for n in range(300)]
    given = list(range(300)) if order == "as the frames" else list(reversed(range(300)))
    with CatalogWriter(catalog, progress=False) as writer:
        writer.write_rows(_batch(["stored"], ["s3://bucket/stored.jpg"]))
        writer.write_rows(_batch(ids, uris, source_order=given))
    wrong = catalog.sql(
        "SELECT count(*) FROM sources s JOIN frames f ON f.id = s.frame_id"
        " WHERE s.frame_key IS DISTINCT FROM f.frame_key OR f.frame_key IS NULL"
    ).fetchall()
    assert wrong == [(0,)]
    assert catalog.sql("SELECT count(*) FROM sources").fetchall() == [(301,)]
