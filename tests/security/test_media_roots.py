"""Poisoned records through every importer, then a real `workbench serve` asked for the files.

Each importer gets records that name files outside the folder being imported (`../`, absolute
paths, `file://` URIs, a symlink inside the folder that leads out of it, a sibling folder that
shares the root's name as a prefix). None of them may widen the media roots; the reports count
them; and the served app, asked over HTTP through every media route with every traversal
trick, never sends a byte of a file outside the roots and never answers 500.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import workbench
from workbench.ingest import clearml, coco, images, labelbox, nucleus, parquet
from workbench.ingest.writer import IngestReport
from workbench.ui.masks import MaskPainter
from workbench.ui.media import MISSING_IMAGE, InlineMediaUrls, ServedMediaUrls

SECRET_TEXT = b"TOP SECRET: never served"


@dataclass(frozen=True)
class Tree:
    root: Path
    media: Path  # the folder imported from: the only media root
    sibling: Path  # media2: shares the root's name as a prefix
    secret: Path  # outside every root
    catalog: Path

    @property
    def secret_png(self) -> Path:
        return self.secret / "secret.png"

    @property
    def secret_txt(self) -> Path:
        return self.secret / "passwd.txt"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    root = tmp_path_factory.mktemp("poisoned").resolve()
    media, sibling, secret = root / "data" / "media", root / "data" / "media2", root / "secret"
    for folder in (media / "sub", sibling, secret):
        folder.mkdir(parents=True)
    Image.new("RGB", (64, 48), (220, 30, 30)).save(media / "red.png")
    Image.new("RGB", (32, 32), (0, 0, 255)).save(secret / "secret.png")
    Image.new("RGB", (16, 16), (0, 255, 0)).save(sibling / "near.png")
    (secret / "passwd.txt").write_bytes(SECRET_TEXT)
    os.symlink(secret / "secret.png", media / "escape.png")  # a file inside leading out
    os.symlink(secret, media / "escape_dir")  # a folder inside leading out
    return Tree(root, media, sibling, secret, root / "catalog.duckdb")


def _clearml_file(tree: Tree) -> Path:
    frames = [
        {
            "id": "cm-1",
            "sources": [
                {
                    "id": "cam",
                    "uri": "red.png",  # relative to the file: inside the root
                    "preview": {"uri": "../../secret/secret.png"},
                    "masks": [{"id": "seg", "uri": str(tree.secret_txt)}],
                }
            ],
        },
        {"id": "cm-2", "sources": [{"id": "cam", "uri": "file:///etc/passwd"}]},
        {"id": "cm-3", "sources": [{"id": "cam", "uri": "escape.png"}]},
        {"id": "cm-4", "sources": [{"id": "cam", "uri": "https://example.invalid/x.jpg"}]},
    ]
    path = tree.media / "clearml.ndjson"
    path.write_text("".join(json.dumps(f) + "\n" for f in frames))
    return path


def _coco_file(tree: Tree) -> Path:
    names = ["red.png", "../../secret/secret.png", "/etc/passwd", "escape_dir/secret.png"]
    data = {
        "images": [
            {"id": i, "file_name": name, "width": 64, "height": 48} for i, name in enumerate(names)
        ],
        "annotations": [],
        "categories": [{"id": 1, "name": "car"}],
    }
    path = tree.media / "coco.json"
    path.write_text(json.dumps(data))
    return path


def _nucleus_file(tree: Tree) -> Path:
    scene = {
        "reference_id": "nu-scene",
        "frame_rate": 10,
        "frames": [
            {"reference_id": "nu-0", "image_location": "red.png"},
            {"reference_id": "nu-1", "image_location": "/etc/passwd"},
            {"reference_id": "nu-2", "image_location": f"file://{tree.sibling}/near.png"},
            {"reference_id": "nu-3", "image_location": "s3://bucket/nu/3.jpg"},
        ],
    }
    path = tree.media / "nucleus.json"
    path.write_text(json.dumps(scene))
    return path


def _labelbox_file(tree: Tree) -> Path:
    line = {
        "uuid": "00000000-0000-4000-8000-000000000001",
        "name": "car",
        "dataRow": {"globalKey": "nu-scene", "instanceURI": "/etc/passwd"},
        "segments": [{"keyframes": [{"frame": 1, "bbox": {"top": 1, "left": 1, "height": 5, "width": 5}}]}],
    }  # fmt: skip
    path = tree.media / "labelbox.ndjson"
    path.write_text(json.dumps(line) + "\n")
    return path


def _parquet_folder(tree: Tree) -> Path:
    folder = tree.media / "parquet"
    folder.mkdir()
    uris = {
        "pq-in": str(tree.media / "red.png"),
        "pq-abs": "/etc/passwd",
        "pq-up": f"{tree.media}/../../secret/secret.png",
        "pq-file": f"file://{tree.media}/%2e%2e/%2e%2e/secret/passwd.txt",
        "pq-sibling": str(tree.sibling / "near.png"),
        "pq-link": str(tree.media / "escape.png"),
        "pq-remote": "https://example.invalid/y.jpg",
    }
    pq.write_table(
        pa.table({"id": list(uris), "context_id": list(uris)}), folder / "frames.parquet"
    )
    pq.write_table(
        pa.table({"frame_id": list(uris), "id": ["cam"] * len(uris), "uri": list(uris.values())}),
        folder / "sources.parquet",
    )
    return folder


@dataclass(frozen=True)
class Imported:
    reports: dict[str, IngestReport]
    roots: list[str]
    records: list[tuple[Any, ...]]
    stored_uris: list[str]


@pytest.fixture(scope="module")
def imported(tree: Tree) -> Imported:
    """Every importer run on its poisoned file into one catalog, read back and closed before
    the server opens it (a catalog file is held by one process at a time)."""
    with workbench.open(tree.catalog) as catalog:
        reports = {
            "clearml": clearml.import_files(catalog, [_clearml_file(tree)], progress=False),
            "coco": coco.import_files(catalog, [_coco_file(tree)], progress=False),
            "nucleus": nucleus.import_files(catalog, [_nucleus_file(tree)], progress=False),
            "labelbox": labelbox.import_files(catalog, [_labelbox_file(tree)], progress=False),
            "parquet": parquet.import_files(catalog, [_parquet_folder(tree)], progress=False),
            # a folder of pictures holding a symlink that leads out of it
            "images": images.import_files(catalog, [tree.media], progress=False),
        }
        records = catalog.sql(
            "SELECT format, status, outside_media_roots FROM imports ORDER BY started"
        ).fetchall()
        uris = catalog.sql(
            "SELECT uri FROM sources UNION SELECT preview_uri FROM sources "
            "UNION SELECT unnest(json_extract_string(masks, '$[*].uri')) FROM sources"
        ).fetchall()
        return Imported(reports, catalog.media_roots(), records, sorted(r[0] for r in uris if r[0]))


@pytest.mark.parametrize(
    ("fmt", "outside"),
    [
        ("clearml", 4),  # preview ../, mask outside, file:///etc/passwd, the escaping symlink
        ("coco", 3),  # ../../secret, /etc/passwd, a folder symlink leading out
        ("nucleus", 2),  # /etc/passwd, the sibling folder sharing the root's prefix
        ("labelbox", 0),  # labels only: nothing it names is a file
        ("parquet", 5),  # /etc/passwd, ../, %2e%2e in a file URI, the sibling, the symlink
        ("images", 1),  # escape.png (escape_dir is not searched: it lies outside)
    ],
)
def test_reports_count_the_uris_outside_the_roots(
    imported: Imported, fmt: str, outside: int
) -> None:
    report = imported.reports[fmt]
    assert report.outside_media_roots == outside, report.outside_examples
    if outside:
        assert "outside the media roots" in str(report) and "--media-root" in str(report)


def test_no_import_widened_the_media_roots(tree: Tree, imported: Imported) -> None:
    # The folders given to the importers (and the one Nucleus decodes videos into), nothing
    # named inside the records.
    assert imported.roots == [
        str(tree.root / "catalog.media" / "video"),
        str(tree.media),
        str(tree.media / "parquet"),
    ]
    assert imported.records == [
        ("clearml", "finished", 4),
        ("coco", "finished", 3),
        ("nucleus", "finished", 2),
        ("labelbox", "finished", 0),
        ("parquet", "finished", 5),
        ("images", "finished", 1),
    ]


@pytest.fixture(scope="module")
def server(tree: Tree, imported: Imported, serve_catalog: Any) -> Any:
    return serve_catalog(tree.catalog)


def _routes(uri: str) -> list[str]:
    quoted = quote(uri, safe="")
    return [f"/media/file?uri={quoted}", f"/media/thumb/64?uri={quoted}"]


def _assert_refused(response: Any, what: str) -> None:
    assert response.status_code in (400, 403, 404), (what, response.status_code)
    body = response.content
    assert SECRET_TEXT not in body and b"root:" not in body, what
    if body.startswith(b"\x89PNG"):  # the grey "missing" placeholder, never the blue secret
        picture = Image.open(io.BytesIO(body)).convert("RGB")
        red, _, blue = picture.resize((1, 1)).getpixel((0, 0))
        assert abs(blue - red) < 40, what


def test_every_stored_uri_outside_the_roots_is_refused(
    tree: Tree, imported: Imported, server: Any
) -> None:
    inside = {str(tree.media / "red.png")}
    served = 0
    for uri in imported.stored_uris:
        for route in _routes(uri):
            response = server.get(route)
            if uri in inside:
                assert response.status_code == 200, route
                served += 1
            else:
                _assert_refused(response, route)
    assert served == 2  # red.png itself still works, through both routes


def _attacks(tree: Tree) -> list[str]:
    media, secret = tree.media, tree.secret
    return [
        str(tree.secret_png),
        str(tree.secret_txt),
        "/etc/passwd",
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        "file://evil.example/etc/passwd",
        f"{media}/../../secret/passwd.txt",
        f"file://{media}/../../secret/passwd.txt",
        f"file://{media}/%2e%2e/%2e%2e/secret/passwd.txt",
        f"file://{media}/%252e%252e/%252e%252e/secret/passwd.txt",
        f"{media}/%2e%2e/%2e%2e/secret/passwd.txt",
        f"/{media}//..//..//secret//passwd.txt",
        f"//{secret}/passwd.txt",
        f"{media}\\..\\..\\secret\\passwd.txt",
        f"{media}/escape.png",
        f"{media}/escape_dir/passwd.txt",
        f"{media}/escape_dir/../escape_dir/secret.png",
        f"{media}/red.png\x00/../../../secret/passwd.txt",
        f"{media}/" + "a" * 9000,
        f"{media}/" + "../" * 3000 + "etc/passwd",
        f"{tree.sibling}/near.png",
        f"{media}2/near.png",
        "../../../../../../etc/passwd",
        "~/.ssh/id_rsa",
        "https://example.invalid/red.png",
        "s3://bucket/secret.png",
        "",
    ]


def test_traversal_variants_are_refused_on_every_route(tree: Tree, server: Any) -> None:
    for attack in _attacks(tree):
        for route in _routes(attack):
            _assert_refused(server.get(route), repr(attack[:80]))
            head = server.client.head(route)
            assert head.status_code in (400, 403, 404), repr(attack[:80])


def test_raw_encodings_in_the_query_are_refused(tree: Tree, server: Any) -> None:
    media = quote(str(tree.media))
    raw = [
        f"{media}/%2e%2e/%2e%2e/secret/passwd.txt",  # decoded once by the server: ../..
        f"{media}/%252e%252e/%252e%252e/secret/passwd.txt",  # double-encoded
        f"{media}%2F..%2F..%2Fsecret%2Fpasswd.txt",
        f"{media}/red.png%00.txt",
        "%ff%fe%fd",  # not UTF-8
        "%2fetc%2fpasswd",
    ]
    for query in raw:
        for prefix in ("/media/file?uri=", "/media/thumb/64?uri=", "/media/thumb/99999?uri="):
            _assert_refused(server.get(prefix + query), prefix + query)


def test_files_inside_the_root_are_still_served(tree: Tree, server: Any) -> None:
    red = tree.media / "red.png"
    for uri in (str(red), f"file://{red}", f"{tree.media}/sub/../red.png"):
        response = server.get(_routes(uri)[0])
        assert response.status_code == 200 and response.content == red.read_bytes()


def test_the_app_draws_outside_images_as_missing_and_reads_no_mask_outside(
    tree: Tree, imported: Imported
) -> None:
    media = ServedMediaUrls("/media", roots=lambda: imported.roots)
    assert media.image(str(tree.secret_png)) == MISSING_IMAGE
    assert media.image(f"{tree.media}/escape.png") == MISSING_IMAGE
    assert media.image(str(tree.media / "gone.png")) == MISSING_IMAGE
    assert media.image(str(tree.media / "red.png")).startswith("/media/file?uri=")
    roi = {"mask": json.dumps({"uri": str(tree.secret_png), "value": 255})}
    # Served, a mask file outside the roots is never read; a notebook reads local files.
    assert MaskPainter(media.local_file)(roi, "#ff0000", (32, 32)) is None
    notebook = MaskPainter(InlineMediaUrls().local_file)(roi, "#ff0000", (32, 32))
    assert notebook is not None and notebook.startswith("data:image/png")
