"""Deep features of an ultrasound ROI with torchvision's ResNet50 (the US study's DLR features).

The study (Liu et al. 2024, ``studies.md``): the ROI's top, bottom, left and right boundary points
define a bounding box; that rectangle is cropped from the original image, resized to 224×224,
ImageNet-normalised and fed to ResNet50 (fine-tuned on the site's labels) whose fully connected and
softmax layers are removed: the 2048 outputs of the global average pool are the deep features.
Here they are named ``DL_{i}`` with ``i`` the 0-based channel of the pooled vector (the study's
tables call the same value ``f_{i+1}``).

Weights (:func:`resolve_weights`):

* ``imagenet`` (or a torchvision name, ``IMAGENET1K_V2`` / ``IMAGENET1K_V1``): torchvision's
  ``ResNet50_Weights`` the way torchvision users get them — through torch's own download-and-verify
  cache (``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch``): a connected workstation
  downloads them once (SHA-256 prefix checked against the file name), later runs read the cached
  file (its hash checked again). Offline without a cached copy: :class:`InputError` saying how to
  pre-seed the cache or give the file;
* a local file: a plain ResNet50 ``state_dict`` (any ``fc`` shape, or none), e.g. torchvision's
  ImageNet weights copied by hand, or the study's form, ResNet50 with a 2-class ``fc`` (what
  ``alnpredictor finetune`` writes), optionally wrapped as ``{"state_dict": ...}`` /
  ``{"model": ...}`` or with ``module.`` prefixes.

The provenance names the weights (``torchvision ResNet50_Weights.IMAGENET1K_V2`` or the file's
name) and their SHA-256.

Files are read with ``torch.load(weights_only=True)``, so a file that holds anything other than
tensors and plain containers is refused instead of executed. Without a weights file the extractor
uses an untrained backbone (random initialisation with a fixed seed), says so in the log, and
records :data:`UNTRAINED` in its provenance so every output carries it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alnpredictor.errors import FeatureError, InputError, MaskError
from alnpredictor.hashing import file_sha256  # noqa: F401  (part of this module's API: provenance callers)

log = logging.getLogger(__name__)

#: Recorded in the provenance of features computed without a weights file.
UNTRAINED = "untrained backbone"
#: Side of the square network input (the study's 224×224).
INPUT_SIZE = 224
#: Length of ResNet50's global-average-pool output.
N_FEATURES = 2048
#: ImageNet channel statistics used by torchvision's pretrained ResNet50 (and the study).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Seed of the random initialisation when no weights are given (same features on every run).
UNTRAINED_SEED = 0


def feature_names(n: int = N_FEATURES) -> list[str]:
    """Column names of the deep features: ``DL_0`` … ``DL_{n-1}`` (pooled channel index)."""
    return [f"DL_{i}" for i in range(n)]


# --------------------------------------------------------------------------- preprocessing
def intensity_range(image: np.ndarray) -> tuple[float, float]:
    """The intensity interval mapped to [0, 1] before ImageNet normalisation.

    Ultrasound frames are 8-bit, so a fixed interval keeps an echogenicity at the same value from
    image to image (as a PNG/JPEG loader would give the network):

    * integer values within 0..255 → (0, 255);
    * floating-point values within 0..1 → (0, 1);
    * floating-point values within 0..255 (grey converted from an 8-bit colour export) → (0, 255);
    * anything else (16-bit, signed, MRI) → the image's own minimum and maximum, taken over the
      whole image, not the crop, so a dark lesion stays dark relative to its surroundings."""
    arr = np.asarray(image)
    if arr.size == 0:
        raise InputError("the ultrasound image is empty; load a 2-D image with at least one pixel")
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    if lo >= 0 and hi <= 255 and (np.issubdtype(arr.dtype, np.integer) or hi > 1):
        return 0.0, 255.0
    if lo >= 0 and hi <= 1:
        return 0.0, 1.0
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise InputError("the ultrasound image holds non-finite values; re-export it as an 8-bit image")
    return lo, (hi if hi > lo else lo + 1.0)


def roi_bounding_box(mask: np.ndarray) -> tuple[slice, slice]:
    """Row and column slices of the ROI's bounding box, inclusive of the extreme ROI pixels
    (the study's top/bottom/left/right boundary points)."""
    m = np.asarray(mask) > 0
    if m.ndim != 2:
        raise MaskError(f"the ROI mask must be 2-D (one ultrasound frame); got shape {m.shape}")
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    if rows.size == 0:
        raise MaskError("the ROI mask is empty: draw the lesion or give a seed point inside it")
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def crop_to_roi(image: np.ndarray, mask: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """The ROI's bounding-box rectangle cut from the image, scaled to [0, 1] (float32).

    ``value_range`` overrides :func:`intensity_range` (e.g. to scale a cohort identically)."""
    img = np.asarray(image)
    if img.ndim != 2:
        raise InputError(f"the ultrasound image must be 2-D (one frame); got shape {img.shape}")
    if np.shape(mask) != img.shape:
        raise MaskError(
            f"ROI mask shape {np.shape(mask)} differs from image shape {img.shape}; "
            "use the mask drawn on this image"
        )
    rs, cs = roi_bounding_box(mask)
    lo, hi = value_range if value_range is not None else intensity_range(img)
    crop = (img[rs, cs].astype(np.float32) - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(crop, 0.0, 1.0)


def to_network_input(crops: Sequence[np.ndarray], input_size: int = INPUT_SIZE):
    """Stack [0, 1] crops into an ImageNet-normalised (n, 3, S, S) float32 tensor.

    Each crop is resized to S×S (bilinear with antialiasing — torchvision's ``Resize`` default, not
    aspect-preserving, as the study resized the box to 224×224) and its grey channel repeated 3×."""
    import torch
    from torchvision.transforms.v2 import functional as F

    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
    out = torch.empty((len(crops), 3, input_size, input_size), dtype=torch.float32)
    for k, crop in enumerate(crops):
        t = torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))[None]
        t = F.resize(t, [input_size, input_size], interpolation=F.InterpolationMode.BILINEAR, antialias=True)
        out[k] = (t.clamp(0.0, 1.0).expand(3, -1, -1) - mean) / std
    return out


# --------------------------------------------------------------------------- weights
#: Names accepted for torchvision's pretrained ResNet50 weights → the ``ResNet50_Weights`` member.
IMAGENET_NAMES = {"imagenet": "IMAGENET1K_V2", "imagenet1k_v2": "IMAGENET1K_V2", "imagenet1k_v1": "IMAGENET1K_V1"}


def is_named_weights(weights: str | Path | None) -> bool:
    """Whether ``weights`` names torchvision's pretrained weights (``imagenet``…) rather than a file."""
    return isinstance(weights, str) and weights.strip().lower() in IMAGENET_NAMES


def _imagenet_url(member: str) -> str:
    import torchvision

    return getattr(torchvision.models.ResNet50_Weights, member).url


def imagenet_cache_path(name: str = "imagenet") -> Path:
    """Where torch's cache keeps the named weights (``$TORCH_HOME/hub/checkpoints/<file>``)."""
    import torch

    member = IMAGENET_NAMES[name.strip().lower()]
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(_imagenet_url(member)).name


def resolve_weights(weights: str | Path | None) -> tuple[Path | None, str]:
    """(local file, description) of ``weights``: None → (None, :data:`UNTRAINED`); a torchvision name
    → the verified file in torch's cache, downloaded once when missing; a path → itself.

    :raises InputError: offline without a cached copy (saying how to pre-seed the cache or give a
        file), a cached copy whose hash does not match, a missing file."""
    if weights is None:
        return None, UNTRAINED
    if not is_named_weights(weights):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise InputError(f"weights file not found: {path}; give the path of a ResNet50 .pt/.pth file, or "
                             "--weights imagenet for torchvision's ImageNet weights")
        return path, f"weights file {path.name}"
    import re

    import torch

    member = IMAGENET_NAMES[str(weights).strip().lower()]
    url = _imagenet_url(member)
    path = imagenet_cache_path(str(weights))
    prefix = (re.search(r"-([a-f0-9]*)\.", path.name) or [None, ""])[1]
    description = f"torchvision ResNet50_Weights.{member}"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(path), hash_prefix=prefix or None, progress=True)
        except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError
            raise InputError(
                f"{description} are not in torch's cache ({path}) and could not be downloaded "
                f"({type(exc).__name__}: {exc}). On a connected machine run: python -c \"import torchvision; "
                f"torchvision.models.resnet50(weights='{member}')\" (or download {url}) and copy the file to "
                f"{path} — set TORCH_HOME to choose the cache folder — or give the file itself: --weights "
                f"/path/to/{path.name}"
            ) from exc
    sha = file_sha256(path)
    if prefix and not sha.startswith(prefix):
        raise InputError(f"the cached {description} file {path} is corrupt (SHA-256 {sha[:12]}… does not start "
                         f"with {prefix}): delete it and run again (or pre-seed the cache with a good copy)")
    return path, description


def _unwrap_state_dict(obj: object, path: Path) -> dict:
    """The tensor dict inside what ``torch.load`` returned (plain, wrapped, or DataParallel)."""
    import torch

    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError(
            f"weights file {path} does not hold a ResNet50 state_dict (a dict of tensors); "
            "save one with torch.save(model.state_dict(), FILE) or use `alnpredictor finetune`"
        )
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in obj.items()}


def load_backbone_weights(path: str | Path) -> dict:
    """Read a weights file safely and return the backbone ``state_dict`` without ``fc.*``.

    Raises :class:`InputError` naming the file when it is missing, not a tensor-only file, or not
    ResNet50 weights."""
    import pickle

    import torch

    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"weights file not found: {path}; give the path of a ResNet50 .pt/.pth file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError) as exc:
        raise InputError(
            f"weights file {path} cannot be read as tensors only ({type(exc).__name__}); files that "
            "store whole models or other objects are refused — save model.state_dict() instead"
        ) from exc
    state = _unwrap_state_dict(obj, path)
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


def load_into(model, state: dict, source: str | Path) -> None:
    """Load a backbone ``state_dict`` (no ``fc.*``) into ``model``; every non-``fc`` tensor must be
    present with the right shape, else :class:`InputError` naming ``source``."""
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise InputError(
            f"weights file {source} is not a torchvision ResNet50: {len(missing)} missing tensors "
            f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}), "
            f"{len(wrong)} of another shape (e.g. {wrong[:2]})"
        )
    model.load_state_dict(state, strict=False)


def build_backbone(weights: str | Path | None = None):
    """ResNet50 with ``fc`` replaced by identity (output: the 2048-d pooled vector), in eval mode.

    ``weights``: None, a file, or a torchvision name (``imagenet``; :func:`resolve_weights`).
    Returns ``(model, description)``; without ``weights`` the description is :data:`UNTRAINED`."""
    import torch
    import torchvision

    path, named = resolve_weights(weights)

    # Random init under a forked RNG with a fixed seed: identical untrained features everywhere,
    # and the caller's global RNG stream is left untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(UNTRAINED_SEED)
        model = torchvision.models.resnet50(weights=None)
    model.fc = torch.nn.Identity()
    if path is not None:
        load_into(model, load_backbone_weights(path), path)
    model.eval()
    return model, named


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when a CUDA device is usable, else ``cpu``; other values pass through."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but no CUDA device is available; use --device cpu")
    return device


@contextlib.contextmanager
def deterministic_cpu(num_threads: int | None) -> Iterator[None]:
    """Deterministic algorithms and a fixed intra-op thread count for the duration, then restore.

    Both are process-wide torch settings, so they are scoped here rather than set at import."""
    import torch

    prev_det, prev_warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    prev_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)


# --------------------------------------------------------------------------- extractor
@dataclass
class DeepFeatureExtractor:
    """ResNet50 deep-feature extractor (2048 features per ROI).

    Parameters: ``weights`` a local weights file, ``imagenet`` (torchvision's, through torch's
    cache: :func:`resolve_weights`) or None (untrained backbone); ``device`` ``auto``
    (CUDA when present), ``cpu`` or ``cuda[:k]``; ``batch_size`` images per forward pass (does not
    change the values); ``input_size`` the network input side (224 as the study; smaller only for
    quick experiments); ``deterministic`` deterministic algorithms and ``num_threads`` fixed
    threads on CPU (None: :func:`default_num_threads`; recorded in the provenance); ``quiet``
    leaves the untrained-backbone notice to the caller (cohort workers: said once by the runner)."""

    weights: str | Path | None = None
    device: str = "auto"
    batch_size: int = 8
    input_size: int = INPUT_SIZE
    deterministic: bool = True
    num_threads: int | None = None
    quiet: bool = False
    provenance: dict = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        import torch
        import torchvision

        if self.batch_size < 1:
            raise InputError(f"batch size must be at least 1; got {self.batch_size}")
        if self.input_size < 32:
            raise InputError(f"input size must be at least 32 pixels; got {self.input_size}")
        self.device = resolve_device(self.device)
        if self.num_threads is None and self.deterministic and self.device == "cpu":
            self.num_threads = default_num_threads()
        path, description = resolve_weights(self.weights)
        self._model, _ = build_backbone(path)
        self._model.to(self.device)
        if self.weights is None and not self.quiet:
            log.warning(
                "no ResNet50 weights file given: deep features come from an %s (random initialisation, "
                "seed %d), not from the study's fine-tuned network. Pass --weights imagenet (torchvision's "
                "ImageNet weights) or --weights FILE (e.g. from `alnpredictor finetune`) for meaningful deep features.",
                UNTRAINED,
                UNTRAINED_SEED,
            )
        self.provenance = {
            "backbone": "torchvision resnet50, fc removed (global average pool, 2048)",
            "weights": description,
            "weights_sha256": file_sha256(path) if path is not None else None,
            "untrained": self.weights is None,
            "input_size": self.input_size,
            "normalisation": {"mean": IMAGENET_MEAN, "std": IMAGENET_STD},
            "device": self.device,
            "deterministic": bool(self.deterministic),
            "num_threads": self.num_threads or torch.get_num_threads(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
        }

    @property
    def untrained(self) -> bool:
        """True when no weights file was given (features from a randomly initialised network)."""
        return self.weights is None

    def _context(self):
        if self.deterministic and self.device == "cpu":
            return deterministic_cpu(self.num_threads)
        return contextlib.nullcontext()

    def extract_crops(self, crops: Sequence[np.ndarray], progress: bool = False) -> np.ndarray:
        """Features of [0, 1] ROI crops (any sizes): float32 array (n, 2048)."""
        import torch

        out = np.empty((len(crops), N_FEATURES), dtype=np.float32)
        starts = range(0, len(crops), self.batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="ResNet50 features", unit="batch", leave=False)
        with self._context(), torch.inference_mode():
            for s in starts:
                batch = to_network_input(crops[s : s + self.batch_size], self.input_size).to(self.device)
                out[s : s + len(batch)] = self._model(batch).float().cpu().numpy()
        if not np.isfinite(out).all():
            raise FeatureError("ResNet50 produced non-finite features; check the weights file and the images")
        return out

    def extract(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray], progress: bool = False
    ) -> np.ndarray:
        """Features of 2-D images with their ROI masks: crop, resize, normalise, ResNet50 → (n, 2048)."""
        if len(images) != len(masks):
            raise InputError(f"{len(images)} images but {len(masks)} masks; give one ROI mask per image")
        return self.extract_crops([crop_to_roi(i, m) for i, m in zip(images, masks)], progress=progress)


def default_num_threads() -> int:
    """A fixed thread count for reproducible CPU runs: the CPUs available to this process, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))
