"""Generated COCO keypoint datasets for the OKS tests, and pycocotools' verdict on them.

Three labels: "person" with COCO's 17 points (COCO's sigmas), "hand" with 5 points (sigmas
given by the test) and "tail" with 3 (the uniform default). Ground truth has missing points
(visibility 0 at 0, 0), people with no labelled point at all (COCO's `num_keypoints` 0),
crowds, stated areas unlike the box's, objects of every keypoint area range, and images with
more detections than the cap of 20. pycocotools takes one sigma list for every category, so
it runs once per label and the per-label arrays are put side by side, as one run with
per-label sigmas would fill them.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from workbench.analysis.evaluation.keypoints import COCO_PERSON_KEYPOINTS, COCO_PERSON_SIGMAS

HAND = ["thumb", "index", "middle", "ring", "little"]
TAIL = ["base", "middle", "tip"]
HAND_SIGMAS = [0.03, 0.04, 0.05, 0.06, 0.07]
CATEGORIES = [
    {"id": 1, "name": "person", "keypoints": list(COCO_PERSON_KEYPOINTS), "skeleton": [[1, 2]]},
    {"id": 3, "name": "hand", "keypoints": HAND, "skeleton": [[1, 2], [2, 3]]},
    {"id": 4, "name": "tail", "keypoints": TAIL, "skeleton": []},
]
SIGMAS = {1: list(COCO_PERSON_SIGMAS), 3: HAND_SIGMAS, 4: [0.05] * 3}


@dataclass(frozen=True)
class KeypointDataset:
    gt_path: Path
    dt_path: Path


def _box(rng: np.random.Generator, width: int, height: int) -> list[float]:
    side = float(np.exp(rng.uniform(np.log(12), np.log(min(width, height) * 0.9))))
    w, h = (
        min(side * rng.uniform(0.6, 1.4), width - 1.0),
        min(side * rng.uniform(0.6, 1.4), height - 1.0),
    )
    return [float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h)), float(w), float(h)]


def _points(rng: np.random.Generator, box: list[float], count: int, missing: float) -> list[float]:
    x, y, w, h = box
    out: list[float] = []
    for _ in range(count):
        if rng.random() < missing:
            out += [0, 0, 0]
        else:
            out += [
                float(x + rng.uniform(0, w)),
                float(y + rng.uniform(0, h)),
                int(rng.choice([1, 2])),
            ]
    return out


def _moved(
    rng: np.random.Generator, truth: list[float], box: list[float], scale: float
) -> list[float]:
    """Detected points near the truth's (anywhere in the box where the truth has none)."""
    x, y, w, h = box
    out: list[float] = []
    for i in range(0, len(truth), 3):
        gx, gy, v = truth[i : i + 3]
        if v == 0:
            gx, gy = x + rng.uniform(0, w), y + rng.uniform(0, h)
        out += [float(gx + rng.normal(0, scale * w)), float(gy + rng.normal(0, scale * h)), 1]
    return out


def make_keypoint_dataset(folder: Path, *, seed: int, images: int = 25) -> KeypointDataset:
    rng = np.random.default_rng(seed)
    imgs = [
        {"id": i + 1, "file_name": f"img{i + 1}.jpg", "width": int(rng.integers(120, 640)),
         "height": int(rng.integers(100, 480))}
        for i in range(images)
    ]  # fmt: skip
    sizes = {c["id"]: len(c["keypoints"]) for c in CATEGORIES}
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for image in imgs:
        w, h = image["width"], image["height"]
        busy = image["id"] <= 2
        for _ in range(int(rng.integers(0, 25 if busy else 7))):
            category = int(rng.choice(list(sizes)))
            box = _box(rng, w, h)
            roll = rng.random()
            missing = 1.0 if roll < 0.08 else float(rng.uniform(0, 0.5))
            keypoints = _points(rng, box, sizes[category], missing)
            crowd = int(rng.random() < 0.08)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image["id"],
                    "category_id": category,
                    "bbox": box,
                    "area": box[2] * box[3] * float(rng.uniform(0.5, 1.0)),
                    "iscrowd": crowd,
                    "keypoints": keypoints,
                    "num_keypoints": int(sum(1 for v in keypoints[2::3] if v > 0)),
                    "segmentation": [],
                }
            )
            for _ in range(int(rng.integers(0, 3))):
                scale = float(rng.choice([0.01, 0.03, 0.08, 0.2]))
                label = category if rng.random() < 0.9 else int(rng.choice(list(sizes)))
                points = (
                    _moved(rng, keypoints, box, scale)
                    if label == category
                    else _points(rng, box, sizes[label], 0.0)
                )
                score = float(rng.uniform(0.3, 0.99))
                results.append(
                    {
                        "image_id": image["id"],
                        "category_id": label,
                        "keypoints": points,
                        "score": score,
                    }
                )
        for _ in range(int(rng.integers(0, 4)) + (30 if busy else 0)):
            label = int(rng.choice(list(sizes)))
            points = _points(rng, _box(rng, w, h), sizes[label], 0.0)
            score = float(rng.uniform(0.01, 0.8))
            results.append(
                {"image_id": image["id"], "category_id": label, "keypoints": points, "score": score}
            )
    folder.mkdir(parents=True, exist_ok=True)
    gt_path, dt_path = folder / "gt.json", folder / "dt.json"
    gt_path.write_text(
        json.dumps({"images": imgs, "annotations": annotations, "categories": CATEGORIES})
    )
    dt_path.write_text(json.dumps(results))
    return KeypointDataset(gt_path, dt_path)


@dataclass(frozen=True)
class Verdict:
    """COCOeval's arrays with the labels side by side (K in category order), and the stats."""

    precision: np.ndarray
    recall: np.ndarray
    names: list[str]
    images: list[dict[str, Any]]  # evalImgs of every label's run

    def mean(self, values: np.ndarray) -> float:
        defined = values[values > -1]
        return float(np.mean(defined)) if defined.size else -1.0

    def stats(self) -> dict[str, float]:
        """_summarizeKps' figures, from the combined arrays (T thresholds .50:.05:.95)."""
        p, r = self.precision, self.recall
        return {
            "AP": self.mean(p[:, :, :, 0, -1]),
            "AP50": self.mean(p[0, :, :, 0, -1]),
            "AP75": self.mean(p[5, :, :, 0, -1]),
            "AP_medium": self.mean(p[:, :, :, 1, -1]),
            "AP_large": self.mean(p[:, :, :, 2, -1]),
            "AR20": self.mean(r[:, :, 0, -1]),
            "AR_medium": self.mean(r[:, :, 1, -1]),
            "AR_large": self.mean(r[:, :, 2, -1]),
        }

    def class_ap(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for k, name in enumerate(self.names):
            value = self.mean(self.precision[:, :, k, 0, -1])
            out[name] = None if value == -1 else value
        return out


def cocoeval_keypoints(
    data: KeypointDataset, sigmas: dict[int, list[float]] | None = None
) -> Verdict:
    """COCOeval(iouType="keypoints") once per category with its sigmas."""
    precision, recall, names, images = [], [], [], []
    sigmas = SIGMAS if sigmas is None else sigmas
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(data.gt_path))
        dt = gt.loadRes(str(data.dt_path))
        for category in CATEGORIES:
            evaluator = COCOeval(gt, dt, "keypoints")
            evaluator.params.catIds = [category["id"]]
            evaluator.params.kpt_oks_sigmas = np.array(sigmas[category["id"]])
            evaluator.evaluate()
            evaluator.accumulate()
            precision.append(evaluator.eval["precision"])
            recall.append(evaluator.eval["recall"])
            names.append(category["name"])
            images += [e for e in evaluator.evalImgs if e is not None]
    return Verdict(np.concatenate(precision, axis=2), np.concatenate(recall, axis=1), names, images)
