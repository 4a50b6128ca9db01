"""Pictures in S3 are served through the media route, only from the declared prefixes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from tornado.web import HTTPError

import workbench
from tests.lake.s3 import make_bucket, moto_server
from workbench.media.thumbnails import ThumbnailCache
from workbench.ui.media import ServedMediaUrls
from workbench.ui.media_route import MediaFiles


def jpeg(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def s3():
    with moto_server():
        import os

        import s3fs

        make_bucket("media")
        make_bucket("private")
        fs = s3fs.S3FileSystem(endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        fs.pipe("s3://media/fleet/cam/a.jpg", jpeg("red"))
        fs.pipe("s3://media/other/b.jpg", jpeg("blue"))
        fs.pipe("s3://private/fleet/cam/a.jpg", jpeg("green"))
        fs.pipe("s3://media/fleetx/c.jpg", jpeg("white"))
        yield fs


def test_objects_under_a_declared_prefix_are_served_and_nothing_else(s3, tmp_path: Path) -> None:
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert catalog.add_media_roots(["s3://media/fleet"]) == ["s3://media/fleet/"]
        files = MediaFiles(catalog.media_roots, ThumbnailCache(tmp_path / "thumbs"))
        served = files.file("s3://media/fleet/cam/a.jpg")
        assert served.read_bytes() == s3.cat("s3://media/fleet/cam/a.jpg")
        assert files.thumbnail("s3://media/fleet/cam/a.jpg", 32).is_file()
        refused = [
            "s3://media/other/b.jpg",  # another prefix of the same bucket
            "s3://private/fleet/cam/a.jpg",  # another bucket
            "s3://media/fleetx/c.jpg",  # a prefix that only starts the same
            "s3://media/fleet/../other/b.jpg",
            "s3://media/fleet/./cam/a.jpg",
            "s3://media/fleet//cam/a.jpg",
            "s3://media/fleet/cam/a.jpg?versionId=1",
            "s3://media/fleet/%2e%2e/other/b.jpg",
        ]
        for uri in refused:
            with pytest.raises(HTTPError) as caught:
                files.file(uri)
            assert caught.value.status_code == 403, uri
        with pytest.raises(HTTPError) as missing:
            files.file("s3://media/fleet/cam/none.jpg")
        assert missing.value.status_code == 404
        urls = ServedMediaUrls("/media", roots=catalog.media_roots)
        assert urls.image("s3://media/fleet/cam/a.jpg").startswith("/media/file?uri=s3")
        assert urls.image("s3://media/other/b.jpg") != urls.image("s3://media/fleet/cam/a.jpg")
        assert catalog.remove_media_roots(["s3://media/fleet/"]) == ["s3://media/fleet/"]
        with pytest.raises(HTTPError):
            files.file("s3://media/fleet/cam/a.jpg")  # no longer a root: refused, cached or not
