"""Models that turn pictures into vectors: the built-in descriptor, a Python callable, ONNX.

An embedder is any object with a `name` (stored in the `embeddings` registry, so a key never
mixes two models) that maps a batch of RGB pictures to an (n, d) array. Nothing here fetches
anything: an ONNX model is a local file, and the built-in descriptor needs no weights.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from workbench.errors import AnalysisError

Pictures = Sequence[Image.Image]


@runtime_checkable
class Embedder(Protocol):
    """Maps RGB pictures to one vector each: an (n, d) array, d the same for every batch."""

    @property
    def name(self) -> str: ...

    def __call__(self, images: Pictures) -> np.ndarray: ...


# -- the built-in descriptor -------------------------------------------------------------------
_SIDE = 64  # pixels of the square the descriptor looks at
_ORIENTATIONS = 8


@dataclass(frozen=True)
class Descriptor:
    """Colour and texture of a picture, with no weights: 160 numbers, L2-normalised.

    - colour histogram: 4 x 4 x 4 RGB bins, square-rooted (Hellinger), 64 values;
    - colour layout: mean RGB of a 4 x 4 grid, centred, 48 values;
    - gradient orientations: 8 unsigned orientation bins weighted by gradient magnitude in
      each quarter of the picture, 32 values;
    - edge density: mean gradient magnitude of a 4 x 4 grid, 16 values.
    Each block is L2-normalised and weighted, then the whole vector is L2-normalised, so
    cosine similarity compares pictures by colour, layout and texture alike.
    """

    name: str = "workbench-descriptor-v1"
    dimension: int = field(default=160, init=False)

    def __call__(self, images: Pictures) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dimension), dtype=np.float32)
        pixels = np.stack([_square(image) for image in images]).astype(np.float32) / 255.0
        blocks = [
            (_colour_histogram(pixels), 1.0),
            (_layout(pixels), 1.0),
            (_orientations(pixels), 1.0),
            (_edges(pixels), 0.5),
        ]
        out = np.concatenate([_unit(b) * w for b, w in blocks], axis=1)
        return _unit(out).astype(np.float32)


def _square(image: Image.Image) -> np.ndarray:
    rgb = image.convert("RGB")
    return np.asarray(rgb.resize((_SIDE, _SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0))


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def _colour_histogram(pixels: np.ndarray) -> np.ndarray:
    levels = np.minimum((pixels * 4).astype(np.int64), 3)
    codes = (levels[..., 0] * 16 + levels[..., 1] * 4 + levels[..., 2]).reshape(len(pixels), -1)
    counts = np.stack([np.bincount(row, minlength=64) for row in codes]).astype(np.float32)
    return np.sqrt(counts / codes.shape[1])


def _cells(values: np.ndarray, grid: int) -> np.ndarray:
    """Mean of `values` (n, h, w[, c]) over a grid x grid of cells: (n, grid * grid[ * c])."""
    n, h, w = values.shape[:3]
    rest = values.shape[3:]
    cells = values.reshape(n, grid, h // grid, grid, w // grid, *rest)
    return cells.mean(axis=(2, 4)).reshape(n, -1)


def _layout(pixels: np.ndarray) -> np.ndarray:
    return _cells(pixels, 4) - 0.5


def _gradients(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    grey = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    gx = np.zeros_like(grey)
    gy = np.zeros_like(grey)
    gx[:, :, 1:-1] = grey[:, :, 2:] - grey[:, :, :-2]
    gy[:, 1:-1, :] = grey[:, 2:, :] - grey[:, :-2, :]
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)  # unsigned: an edge and its reverse alike
    return magnitude, angle


def _orientations(pixels: np.ndarray) -> np.ndarray:
    magnitude, angle = _gradients(pixels)
    bins = np.minimum((angle / np.pi * _ORIENTATIONS).astype(np.int64), _ORIENTATIONS - 1)
    onehot = np.eye(_ORIENTATIONS, dtype=np.float32)[bins] * magnitude[..., None]
    return _cells(onehot, 2)


def _edges(pixels: np.ndarray) -> np.ndarray:
    magnitude, _ = _gradients(pixels)
    return _cells(magnitude, 4)


# -- a Python callable -------------------------------------------------------------------------
@dataclass(frozen=True)
class CallableEmbedder:
    """Any function of a list of RGB PIL pictures returning an (n, d) array."""

    function: Callable[[Pictures], Any]
    name: str

    def __call__(self, images: Pictures) -> np.ndarray:
        return np.asarray(self.function(images), dtype=np.float32)


# -- an ONNX model file ------------------------------------------------------------------------
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class OnnxEmbedder:
    """An ONNX model file run with onnxruntime on CPU.

    Pictures are resized to the model's input size (read from the model when it is fixed,
    else `input_size`), scaled to 0..1, normalised with `mean` and `std` per channel and
    laid out NCHW (or NHWC). The first output is the embedding; a feature map (n, c, h, w) is
    averaged over its spatial dimensions. onnxruntime is an optional dependency
    (`pip install 'workbench[onnx]'`), imported only here.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        input_size: int | tuple[int, int] = 224,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        layout: str = "NCHW",
        threads: int | None = None,
    ) -> None:
        text = os.fspath(path)
        if "://" in text:
            raise AnalysisError(f"{text}: an ONNX model is a local file; nothing is downloaded")
        self.path = Path(text)
        if not self.path.is_file():
            raise AnalysisError(f"{self.path}: no such ONNX model file")
        if layout not in ("NCHW", "NHWC"):
            raise AnalysisError(f"layout must be NCHW or NHWC, got {layout!r}")
        self.layout = layout
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:12]
        self.name = f"onnx:{self.path.name}:{digest}"
        self._session = _session(self.path, threads)
        model_input = self._session.get_inputs()[0]
        self._input = model_input.name
        self._size = _input_size(model_input.shape, layout, input_size)
        batch = model_input.shape[0] if model_input.shape else None
        self._one_at_a_time = isinstance(batch, int) and batch == 1

    def __repr__(self) -> str:
        return f"OnnxEmbedder({str(self.path)!r})"

    def __call__(self, images: Pictures) -> np.ndarray:
        if not images:
            return np.zeros((0, 0), dtype=np.float32)
        tensor = self._tensor(images)
        if self._one_at_a_time:
            outputs = [self._run(tensor[i : i + 1]) for i in range(len(tensor))]
            return np.concatenate(outputs, axis=0)
        return self._run(tensor)

    def _tensor(self, images: Pictures) -> np.ndarray:
        height, width = self._size
        pixels = np.stack(
            [
                np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR))
                for image in images
            ]
        ).astype(np.float32)
        pixels = (pixels / 255.0 - self.mean) / self.std
        return np.ascontiguousarray(
            pixels.transpose(0, 3, 1, 2) if self.layout == "NCHW" else pixels, dtype=np.float32
        )

    def _run(self, tensor: np.ndarray) -> np.ndarray:
        try:
            output = np.asarray(self._session.run(None, {self._input: tensor})[0])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise AnalysisError(f"{self.path}: the model failed on a batch: {exc}") from exc
        if output.ndim == 4:
            axes = (2, 3) if self.layout == "NCHW" else (1, 2)
            output = output.mean(axis=axes)
        return output.reshape(len(tensor), -1).astype(np.float32)


def _session(path: Path, threads: int | None) -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise AnalysisError(
            "running an ONNX model needs onnxruntime: pip install 'workbench[onnx]'"
        ) from exc
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own errors: a bad or unsupported file
        raise AnalysisError(f"{path}: not an ONNX model onnxruntime can run ({exc})") from exc


def _input_size(
    shape: Sequence[Any], layout: str, default: int | tuple[int, int]
) -> tuple[int, int]:
    if len(shape) == 4:
        h, w = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
        if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
            return h, w
    if isinstance(default, int):
        return default, default
    return int(default[0]), int(default[1])


def embedder_of(model: Any, *, name: str | None = None, **onnx_options: Any) -> Embedder:
    """The embedder `model` names: None or "descriptor" (built-in), an ONNX file path, an
    Embedder, or a callable of a list of pictures (named by `name`, or its qualified name)."""
    if model is None or (isinstance(model, str) and model == "descriptor"):
        return Descriptor()
    if isinstance(model, str | os.PathLike):
        return OnnxEmbedder(model, **onnx_options)
    if onnx_options:
        raise AnalysisError(f"options {sorted(onnx_options)} apply to ONNX model files only")
    if isinstance(model, Embedder) and not name:
        return model
    if callable(model):
        label = name or getattr(model, "__qualname__", None) or type(model).__name__
        module = getattr(model, "__module__", None)
        return CallableEmbedder(model, name or (f"{module}.{label}" if module else label))
    raise AnalysisError(
        f"a model is None (the built-in descriptor), an ONNX file or a callable, not {model!r}"
    )
