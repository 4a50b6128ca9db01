import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import workbench
from workbench.errors import IngestError
from workbench.ingest import CatalogWriter, Roi, box_ring
from workbench.ingest.images import export_files, import_files


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


def _save(path: Path, size=(60, 40), color="gray", fmt=None, **exif_tags) -> Path:
    """Write an image; exif_tags: orientation, taken ("YYYY:MM:DD HH:MM:SS"), subsec, offset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    if "orientation" in exif_tags:
        exif[0x0112] = exif_tags["orientation"]
    if "taken" in exif_tags:
        ifd = exif.get_ifd(0x8769)
        ifd[0x9003] = exif_tags["taken"]
        if "subsec" in exif_tags:
            ifd[0x9291] = exif_tags["subsec"]
        if "offset" in exif_tags:
            ifd[0x9011] = exif_tags["offset"]
    Image.new("RGB", size, color).save(path, fmt, exif=exif)
    return path


@pytest.fixture
def shoot(tmp_path: Path) -> Path:
    """shoot/a.jpg (rotated, dated), shoot/b.png, shoot/sub/c.jpg, notes.txt, broken.jpg."""
    root = tmp_path / "shoot"
    _save(root / "a.jpg", (60, 40), orientation=6, taken="2023:05:06 07:08:09", subsec="25",
          offset="+02:00")  # fmt: skip
    _save(root / "b.png", (30, 20), fmt="PNG")
    _save(root / "sub" / "c.jpg", (16, 8), taken="2024:01:02 03:04:05")
    (root / "notes.txt").write_text("not an image")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    return root


def _rows(catalog, query):
    return catalog.sql(query).fetchall()


def test_a_folder_becomes_one_frame_per_image(catalog, shoot: Path) -> None:
    report = import_files(catalog, [shoot], progress=False)
    assert report.frames == 3
    assert report.rejected == 1
    assert str(shoot / "broken.jpg") in str(report.errors[0])
    assert "cannot read the image" in report.errors[0].problem
    rows = _rows(
        catalog,
        "SELECT f.id, s.id, s.uri, s.width, s.height, s.content_type, f.context_id, "
        "f.frame_index, f.num_frames FROM frames f JOIN sources s ON s.frame_id = f.id "
        "ORDER BY f.id",
    )
    assert rows == [
        ("shoot/a.jpg", "image", f"{shoot}/a.jpg", 40, 60, "image/jpeg", f"{shoot}/a.jpg", 0, 1),
        ("shoot/b.png", "image", f"{shoot}/b.png", 30, 20, "image/png", f"{shoot}/b.png", 0, 1),
        ("shoot/sub/c.jpg", "image", f"{shoot}/sub/c.jpg", 16, 8, "image/jpeg",
         f"{shoot}/sub/c.jpg", 0, 1),
    ]  # fmt: skip
    assert catalog.media_roots() == [str(shoot)]


def test_exif_capture_time_becomes_the_timestamp(catalog, shoot: Path) -> None:
    import_files(catalog, [shoot], progress=False)
    times = dict(_rows(catalog, "SELECT id, timestamp FROM frames"))
    a = datetime(2023, 5, 6, 7, 8, 9, 250_000, tzinfo=timezone(timedelta(hours=2)))
    c = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)  # no offset recorded: read as UTC
    assert times == {
        "shoot/a.jpg": int(a.timestamp() * 1000),
        "shoot/b.png": None,
        "shoot/sub/c.jpg": int(c.timestamp() * 1000),
    }
    assert _rows(catalog, "SELECT timestamp FROM sources WHERE frame_id = 'shoot/a.jpg'") == [
        (times["shoot/a.jpg"],)
    ]


def test_only_the_header_is_read(catalog, tmp_path: Path) -> None:
    # A JPEG cut after its header still has a size: import never decodes the pixels.
    whole = _save(tmp_path / "big.jpg", (1600, 1200), "white")
    cut = tmp_path / "pics" / "cut.jpg"
    cut.parent.mkdir()
    cut.write_bytes(whole.read_bytes()[:2000])
    report = import_files(catalog, [cut], progress=False)
    assert report.ok
    assert _rows(catalog, "SELECT frame_id, width, height FROM sources") == [
        ("pics/cut.jpg", 1600, 1200)
    ]


def test_recursive_false_stays_in_the_folder(catalog, shoot: Path) -> None:
    import_files(catalog, shoot, progress=False, recursive=False)
    assert [r[0] for r in _rows(catalog, "SELECT id FROM frames ORDER BY id")] == [
        "shoot/a.jpg",
        "shoot/b.png",
    ]


def test_context_by_folder_orders_a_folder_by_file_name(catalog, tmp_path: Path) -> None:
    for name in ("003.jpg", "001.jpg", "002.jpg"):
        _save(tmp_path / "seq" / name)
    _save(tmp_path / "seq" / "other" / "x.jpg")
    report = import_files(catalog, [tmp_path / "seq"], progress=False, context_by="folder",
                          dataset="walk")  # fmt: skip
    assert report.frames == 4
    seq = (tmp_path / "seq").as_posix()
    assert _rows(
        catalog, "SELECT id, context_id, frame_index, num_frames, dataset FROM frames ORDER BY id"
    ) == [
        ("seq/001.jpg", seq, 0, 3, "walk"),
        ("seq/002.jpg", seq, 1, 3, "walk"),
        ("seq/003.jpg", seq, 2, 3, "walk"),
        ("seq/other/x.jpg", f"{seq}/other", 0, 1, "walk"),
    ]
    assert _rows(catalog, "SELECT id FROM datasets") == [("walk",)]


def test_frame_id_rules(catalog, tmp_path: Path) -> None:
    a = _save(tmp_path / "a" / "x.jpg", color="red")
    b = _save(tmp_path / "b" / "x.jpg", color="red")  # same bytes as a
    report = import_files(catalog, [a, b], progress=False, frame_id="content")
    digest = hashlib.sha256(a.read_bytes()).hexdigest()
    assert _rows(catalog, "SELECT id FROM frames") == [(digest,)]
    assert report.rejected == 1
    assert str(b) in str(report.errors[0]) and str(a) in report.errors[0].problem

    import_files(catalog, [a], progress=False, frame_id="absolute")
    import_files(catalog, [b], progress=False, frame_id=lambda p: "custom-" + p.parent.name)
    ids = {r[0] for r in _rows(catalog, "SELECT id FROM frames")}
    assert ids == {digest, a.as_posix(), "custom-b"}


def test_bad_options_are_refused(catalog, shoot: Path) -> None:
    with pytest.raises(IngestError, match="context_by"):
        import_files(catalog, [shoot], context_by="day")
    with pytest.raises(IngestError, match="frame_id"):
        import_files(catalog, [shoot], frame_id="name")


def test_importing_again_updates_instead_of_duplicating(catalog, shoot: Path) -> None:
    import_files(catalog, [shoot], progress=False)
    _save(shoot / "b.png", (50, 25), fmt="PNG")
    import_files(catalog, [shoot], progress=False)
    assert _rows(catalog, "SELECT count(*) FROM frames") == [(3,)]
    assert _rows(catalog, "SELECT width, height FROM sources WHERE frame_id = 'shoot/b.png'") == [
        (50, 25)
    ]


def test_a_missing_path_is_reported_and_the_rest_imported(catalog, shoot: Path) -> None:
    report = import_files(catalog, [shoot / "nope", shoot / "b.png"], progress=False)
    assert report.frames == 1
    assert [str(e) for e in report.errors] == [f"{shoot / 'nope'}: no such file or folder"]


def test_progress_bar_knows_the_total(catalog, shoot: Path, capsys) -> None:
    import_files(catalog, [shoot], progress=True)
    assert "/4" in capsys.readouterr().err  # 4 candidate images, one of them broken


# -- export -------------------------------------------------------------------------------


def _boxed(catalog, tmp_path: Path) -> None:
    """One 100x80 gray image with a ground-truth box and a prediction box."""
    import_files(
        catalog, [_save(tmp_path / "pics" / "b.png", (100, 80), fmt="PNG")], progress=False
    )
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add_labels("pics/b.png", "ground_truth",
                          [Roi("r1", "box", ["car"], geometry=[box_ring(40, 30, 50, 40)])])  # fmt: skip
        writer.add_labels("pics/b.png", "predictions",
                          [Roi("r2", "box", ["car"], geometry=[box_ring(2, 2, 10, 10)])])  # fmt: skip


def test_export_copies_the_view_images(catalog, shoot: Path, tmp_path: Path) -> None:
    import_files(catalog, [shoot], progress=False)
    out = tmp_path / "out"
    report = export_files(catalog.view(), out, progress=False)
    assert report.frames == 3 and not report.skipped
    assert sorted(p.relative_to(out).as_posix() for p in report.files) == [
        "shoot/a.jpg",
        "shoot/b.png",
        "shoot/sub/c.jpg",
    ]
    assert (out / "shoot/a.jpg").read_bytes() == (shoot / "a.jpg").read_bytes()


def test_export_draws_rois_of_the_chosen_fields(catalog, tmp_path: Path) -> None:
    _boxed(catalog, tmp_path)
    report = export_files(catalog.view(), tmp_path / "out", progress=False, draw_rois=True,
                          fields=["ground_truth"])  # fmt: skip
    assert report.frames == 1 and report.rois == 1
    with Image.open(tmp_path / "out" / "pics" / "b.png") as img:
        pixels = np.asarray(img.convert("RGB")).astype(int)
    gray = np.array([128, 128, 128])
    assert np.abs(pixels[30, 60] - gray).max() > 40  # on the ground-truth box's top edge
    assert np.abs(pixels[55, 60] - gray).max() == 0  # inside the box
    assert np.abs(pixels[2, 6] - gray).max() == 0  # the prediction was not drawn
    assert np.abs(pixels[5, 60] - gray).max() == 0  # outside every box


def test_export_reencodes_and_applies_the_orientation(catalog, shoot: Path, tmp_path: Path) -> None:
    import_files(catalog, [shoot], progress=False)
    view = catalog.view().where("f.id = ?", "shoot/a.jpg")
    report = export_files(
        view, tmp_path / "out", progress=False, image_format="PNG", draw_rois=True
    )
    assert [p.name for p in report.files] == ["a.png"]
    with Image.open(report.files[0]) as img:
        assert (img.format, img.size) == ("PNG", (40, 60))


def test_export_skips_images_it_cannot_reach(catalog, tmp_path: Path) -> None:
    from workbench.ingest import Frame, Source

    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(Frame("remote", [Source("image", "https://example.com/x.jpg")]))
        writer.add(Frame("gone", [Source("image", str(tmp_path / "gone.jpg"))]))
    report = export_files(catalog.view(), tmp_path / "out", progress=False)
    assert report.frames == 0 and report.files == []
    assert sorted(report.skipped) == [
        f"frame 'gone', source 'image': {tmp_path / 'gone.jpg'} does not exist",
        "frame 'remote', source 'image': https://example.com/x.jpg is not a local file",
    ]


def test_export_names_stay_inside_dest_and_unique(catalog, tmp_path: Path) -> None:
    from workbench.ingest import Frame, Source

    img = _save(tmp_path / "x.jpg")
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(Frame("../../evil", [Source("image", str(img))]))
        writer.add(Frame("evil", [Source("image", str(img))]))
    out = tmp_path / "out"
    report = export_files(catalog.view().sort_by("id"), out, progress=False)
    names = sorted(p.relative_to(out).as_posix() for p in report.files)
    assert names == ["evil-2.jpg", "evil.jpg"]
    assert all(p.resolve().is_relative_to(out) for p in report.files)
