"""The fake CVAT's checks can fail: bad bodies get a 400 naming the problem, good ones pass.

Each case sends a valid body next to a broken one, so a check that rejected everything (or
nothing) would fail here too.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from cvat_sdk.api_client import models

from .cvat_checks import BadRequest, unknown_keys, validate
from .fake_cvat import FakeCvat

LABELS = [
    {
        "name": "car",
        "type": "rectangle",
        "attributes": [
            {
                "name": "color",
                "mutable": True,
                "input_type": "select",
                "values": ["red", "blue"],
                "default_value": "red",
            },
            {
                "name": "parked",
                "mutable": False,
                "input_type": "checkbox",
                "values": ["false"],
                "default_value": "false",
            },
        ],
    },
    {"name": "road", "type": "polygon", "attributes": []},
    {"name": "sunny", "type": "tag", "attributes": []},
]


@pytest.fixture
def http(fake: FakeCvat) -> httpx.Client:
    return httpx.Client(
        base_url=fake.url,
        transport=fake.transport,
        headers={"Authorization": f"Bearer {fake.token}"},
    )


@pytest.fixture
def task(fake: FakeCvat, http: httpx.Client) -> dict[str, Any]:
    """A project with LABELS and a task of three remote frames, processed."""
    project = http.post("/api/projects", json={"name": "p", "labels": LABELS}).json()
    task = http.post("/api/tasks", json={"name": "t", "project_id": project["id"]}).json()
    data = {
        "image_quality": 70,
        "remote_files": [f"http://m/{i}.jpg" for i in range(3)],
        "sorting_method": "predefined",
    }
    rq_id = http.post(f"/api/tasks/{task['id']}/data/", json=data).json()["rq_id"]
    while http.get(f"/api/requests/{rq_id}").json()["status"] != "finished":
        pass
    labels = {
        lab["name"]: lab
        for lab in http.get("/api/labels", params={"project_id": project["id"]}).json()["results"]
    }
    return {"id": task["id"], "labels": labels}


def _pair(http: httpx.Client, method: str, path: str, good: Any, bad: Any) -> str:
    ok = http.request(method, path, json=good)
    assert ok.status_code < 300, ok.text
    refused = http.request(method, path, json=bad)
    assert refused.status_code == 400, refused.text
    return str(refused.json()["detail"])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda b: b.update(name=5), "Invalid type"),
        (lambda b: b.pop("name"), "missing 1 required positional argument: 'name'"),
        (lambda b: b["labels"][0]["attributes"][0].update(input_type="slider"), "must be one of"),
        (lambda b: b["labels"][0]["attributes"][0].pop("mutable"), "mutable"),
        (lambda b: b.update(colour="red"), "unknown fields ['colour']"),
        (
            lambda b: b["labels"][0]["attributes"][0].update(default="x"),
            "labels[0].attributes[0].default",
        ),
        (lambda b: b["labels"][1].update(name="car"), "label names must be unique"),
        (
            lambda b: b["labels"][0]["attributes"][0].update(default_value="green"),
            "holding the default",
        ),
    ],
)
def test_project_bodies(http: httpx.Client, change: Any, expected: str) -> None:
    good = {"name": "p", "labels": copy.deepcopy(LABELS)}
    bad = copy.deepcopy(good)
    change(bad)
    assert expected in _pair(http, "POST", "/api/projects", good, bad)


def _shape(task: dict[str, Any], **changes: Any) -> dict[str, Any]:
    car = task["labels"]["car"]
    shape = {
        "type": "rectangle",
        "frame": 0,
        "label_id": car["id"],
        "points": [1, 2, 5, 6],
        "rotation": 10.0,
        "occluded": False,
        "z_order": 0,
        "source": "file",
        "attributes": [{"spec_id": car["attributes"][0]["id"], "value": "blue"}],
    }
    return shape | changes


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"frame": "0"}, "Invalid type"),
        ({"type": "circle"}, "must be one of"),
        ({"rotation": 400.0}, "less than or equal to `360`"),
        ({"points": [1, 2, 5]}, "a rectangle has 4 coordinates, got 3"),
        (
            {"type": "polygon", "points": [1, 2, 5, 6], "rotation": 0.0},
            "cannot have the rectangle label",
        ),
        ({"label_id": 999}, "label id 999 is not a label of this task"),
        ({"frame": 3}, "frame 3 is outside the task (0..2)"),
        ({"source": "magic"}, "source 'magic'"),
        ({"attributes": [{"spec_id": 999, "value": "red"}]}, "spec id 999"),
        ({"attributes": [{"spec_id": "x", "value": "red"}]}, "Invalid type"),
        ({"box": [1, 2]}, "unknown fields ['shapes[0].box']"),
    ],
)
def test_annotation_bodies(
    http: httpx.Client, task: dict[str, Any], changes: dict[str, Any], expected: str
) -> None:
    path = f"/api/tasks/{task['id']}/annotations/"
    good = {"version": 0, "shapes": [_shape(task)]}
    bad = {"version": 0, "shapes": [_shape(task, **changes)]}
    assert expected in _pair(http, "PUT", path, good, bad)


def test_attribute_values_and_polygons(http: httpx.Client, task: dict[str, Any]) -> None:
    path = f"/api/tasks/{task['id']}/annotations/"
    car, road = task["labels"]["car"], task["labels"]["road"]
    color, parked = (a["id"] for a in car["attributes"])
    polygon = {"type": "polygon", "frame": 1, "label_id": road["id"], "points": [0, 0, 4, 0, 4, 4]}
    assert "needs an even number >= 6" in _pair(
        http, "PUT", path, {"shapes": [polygon]}, {"shapes": [polygon | {"points": [0, 0, 4, 0]}]}
    )
    good = {"shapes": [_shape(task, attributes=[{"spec_id": parked, "value": "true"}])]}
    bad = {"shapes": [_shape(task, attributes=[{"spec_id": parked, "value": "yes"}])]}
    assert "takes 'true' or 'false'" in _pair(http, "PUT", path, good, bad)
    bad = {"shapes": [_shape(task, attributes=[{"spec_id": color, "value": "green"}])]}
    assert "'green' is not one of ['red', 'blue']" in _pair(http, "PUT", path, good, bad)
    tag = {"frame": 0, "label_id": task["labels"]["sunny"]["id"]}
    bad_tag = {"frame": 0, "label_id": car["id"]}
    assert "is a rectangle label" in _pair(http, "PUT", path, {"tags": [tag]}, {"tags": [bad_tag]})


def test_track_bodies(http: httpx.Client, task: dict[str, Any]) -> None:
    path = f"/api/tasks/{task['id']}/annotations/"
    car = task["labels"]["car"]
    key = {"type": "rectangle", "points": [1, 2, 5, 6]}
    good = {
        "tracks": [
            {
                "frame": 0,
                "label_id": car["id"],
                "shapes": [key | {"frame": 0}, key | {"frame": 2, "outside": True}],
            }
        ]
    }
    twice = copy.deepcopy(good)
    twice["tracks"][0]["shapes"][1]["frame"] = 0
    assert "two keyframes on one frame" in _pair(http, "PUT", path, good, twice)
    late = copy.deepcopy(good)
    late["tracks"][0]["shapes"][1]["frame"] = 3
    assert "frame 3 is outside the task" in _pair(http, "PUT", path, good, late)
    missing = copy.deepcopy(good)
    del missing["tracks"][0]["shapes"]
    assert "shapes" in _pair(http, "PUT", path, good, missing)


def test_data_bodies(fake: FakeCvat, http: httpx.Client) -> None:
    project = http.post("/api/projects", json={"name": "p", "labels": LABELS}).json()
    bodies = [
        ({"image_quality": 0, "remote_files": ["http://m/a.jpg"]}, "greater than or equal to `1`"),
        (
            {
                "image_quality": 70,
                "remote_files": ["http://m/a.jpg"],
                "sorting_method": "alphabetical",
            },
            "must be one of",
        ),
        ({"remote_files": ["http://m/a.jpg"]}, "image_quality: This field is required"),
        ({"image_quality": 70}, "exactly one of"),
        ({"image_quality": 70, "remote_files": "http://m/a.jpg"}, "Invalid type"),
    ]
    for body, expected in bodies:
        task = http.post("/api/tasks", json={"name": "t", "project_id": project["id"]}).json()
        refused = http.post(f"/api/tasks/{task['id']}/data/", json=body)
        assert refused.status_code == 400 and expected in refused.json()["detail"], refused.text
    good = http.post(
        f"/api/tasks/{task['id']}/data/",
        json={"image_quality": 70, "remote_files": ["http://m/a.jpg"]},
    )
    assert good.status_code == 202 and good.json()["rq_id"]


def test_unknown_keys_walks_nested_models() -> None:
    body = {
        "version": 0,
        "tracks": [
            {
                "frame": 0,
                "label_id": 1,
                "extra": 1,
                "shapes": [{"type": "points", "frame": 0, "pts": []}],
            }
        ],
    }
    assert unknown_keys(body, models.LabeledDataRequest) == [
        "tracks[0].extra",
        "tracks[0].shapes[0].pts",
    ]
    with pytest.raises(BadRequest, match="unknown fields"):
        validate(body, models.LabeledDataRequest)


def test_authentication(fake: FakeCvat) -> None:
    http = httpx.Client(base_url=fake.url, transport=fake.transport)
    assert http.get("/api/projects").status_code == 401
    assert (
        http.post("/api/auth/login", json={"username": "admin", "password": "wrong"}).status_code
        == 400
    )
    key = http.post("/api/auth/login", json={"username": "admin", "password": "secret"}).json()[
        "key"
    ]
    assert http.get("/api/projects", headers={"Authorization": f"Token {key}"}).status_code == 200
    assert http.get("/api/projects", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_sorting_is_lexicographical_unless_predefined(fake: FakeCvat, http: httpx.Client) -> None:
    project = http.post("/api/projects", json={"name": "p", "labels": LABELS}).json()
    files = ["http://m/frame_999.jpg", "http://m/frame_10003.jpg"]
    names = {}
    for method in (None, "predefined"):
        task = http.post(
            "/api/tasks", json={"name": str(method), "project_id": project["id"]}
        ).json()
        body = {"image_quality": 70, "remote_files": files} | (
            {"sorting_method": method} if method else {}
        )
        rq_id = http.post(f"/api/tasks/{task['id']}/data/", json=body).json()["rq_id"]
        statuses = [http.get(f"/api/requests/{rq_id}").json()["status"] for _ in range(3)]
        assert statuses == ["queued", "started", "finished"]
        meta = http.get(f"/api/tasks/{task['id']}/data/meta").json()
        names[method] = [f["name"] for f in meta["frames"]]
    assert names[None] == ["frame_10003.jpg", "frame_999.jpg"]
    assert names["predefined"] == ["frame_999.jpg", "frame_10003.jpg"]
