"""What an annotator does in Label Studio, done through its REST API."""

from __future__ import annotations

import copy
from typing import Any

import httpx

IMAGES = ["img-0", "img-1", "img-2", "img-3"]
SCHEMA: dict[str, Any] = {
    "ground_truth": {
        "type": "detections",
        "classes": ["car", "truck"],
        "attributes": {
            "occluded": {"type": "occluded"},
            "color": {"type": "select", "values": ["red", "blue"]},
        },
    },
    "scene": {"type": "classification", "classes": ["day", "night"]},
    "quality": {"type": "scalar"},
    "area": {"type": "polygons", "classes": ["road"]},
    "kp": {"type": "keypoints", "classes": ["nose"]},
}


def tasks_by_frame(api: httpx.Client, project_id: int) -> dict[str, dict[str, Any]]:
    """frame id -> task (with annotations and predictions) of a project."""
    response = api.get(
        "/api/tasks", params={"project": project_id, "fields": "all", "page_size": 1000}
    )
    response.raise_for_status()
    return {t["data"]["wb_frame"]: t for t in response.json()["tasks"]}


def project_tasks(api: httpx.Client, project_id: int) -> list[dict[str, Any]]:
    response = api.get("/api/tasks", params={"project": project_id, "page_size": 1000})
    response.raise_for_status()
    return list(response.json()["tasks"])


def prediction(task: dict[str, Any]) -> list[dict[str, Any]]:
    """A copy of the labels as sent (what the annotator starts from)."""
    return copy.deepcopy(task["predictions"][0]["result"]) if task["predictions"] else []


def region(results: list[dict[str, Any]], control: str) -> dict[str, Any]:
    return next(r for r in results if r["from_name"] == control)


def without(results: list[dict[str, Any]], region_id: str) -> list[dict[str, Any]]:
    return [r for r in results if r["id"] != region_id]


def rectangle(
    region_id: str,
    label: str,
    box: tuple[float, float, float, float],
    rotation: float = 0.0,
    control: str = "ground_truth",
) -> dict[str, Any]:
    """A rectangle as the annotator draws it: x, y, width, height in percent of the image."""
    x, y, w, h = box
    value = {"x": x, "y": y, "width": w, "height": h, "rotation": rotation}
    return {
        "id": region_id,
        "from_name": control,
        "to_name": "image",
        "type": "rectanglelabels",
        "value": {**value, "rectanglelabels": [label]},
    }


def submit(api: httpx.Client, task_id: int, results: list[dict[str, Any]]) -> dict[str, Any]:
    response = api.post(f"/api/tasks/{task_id}/annotations", json={"result": results})
    response.raise_for_status()
    return dict(response.json())
