"""Fine-tune ResNet50 on a site's ROI crops and ALN labels — the US study's recipe.

The study fine-tuned ResNet50 on its training cohort before using the pooled layer as features.
Recipe: ResNet50 with a 2-class fully connected head, Adam (learning rate 1e-4), cross-entropy,
data augmentation by horizontal/vertical flips, rotation, random resized crop and colour (here
brightness/contrast, the grey-scale part of colour) jitter; the weights of the epoch with the best
validation score are kept. The output file is a plain ``state_dict`` of that 2-class network, which
:mod:`alnpredictor.features.deep` loads (dropping the head) with ``torch.load(weights_only=True)``.

Runs are reproducible from ``seed`` (deterministic algorithms on CPU) and resumable: after each
epoch a checkpoint (model, optimizer, RNG states, history) is written atomically; with
``resume=True`` a rerun continues after the last finished epoch and ends with the same weights as
an uninterrupted run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from alnpredictor.errors import InputError
from alnpredictor.features import deep
from alnpredictor.jsonsafe import json_safe

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "finetune-last.pt"


@dataclass
class FinetuneConfig:
    """Settings of a fine-tuning run (the study's values as defaults where it gives them)."""

    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 0.0
    input_size: int = deep.INPUT_SIZE
    seed: int = 0
    #: validation score that picks the kept epoch: ``auc`` (ties broken by lower loss) or ``loss``
    monitor: str = "auc"
    #: augmentation strengths
    rotation_deg: float = 15.0
    crop_scale: tuple[float, float] = (0.7, 1.0)
    brightness: float = 0.2
    contrast: float = 0.2
    device: str = "auto"
    num_threads: int | None = None

    def validate(self) -> None:
        """Raise InputError for settings that cannot train."""
        if self.epochs < 1 or self.batch_size < 2:
            raise InputError("fine-tuning needs at least 1 epoch and a batch size of at least 2")
        if not (0 < self.lr < 1):
            raise InputError(f"learning rate must be in (0, 1); got {self.lr}")
        if self.monitor not in ("auc", "loss"):
            raise InputError(f"monitor must be 'auc' or 'loss'; got {self.monitor!r}")
        if self.input_size < 32:
            raise InputError(f"input size must be at least 32 pixels; got {self.input_size}")


@dataclass
class FinetuneResult:
    """What a run produced: the weights file, the kept epoch and the per-epoch history."""

    weights: Path
    best_epoch: int
    best_score: float
    history: list[dict] = field(default_factory=list)
    resumed_from: int | None = None


def build_study_model(init_weights: str | Path | None = None):
    """ResNet50 with a 2-class ``fc`` (the study's network), optionally initialised from a local file.

    ``init_weights`` may be any file :func:`deep.load_backbone_weights` accepts (e.g. ImageNet
    weights the user saved); the 2-class head is always freshly initialised."""
    import torch
    import torchvision

    # Fixed-seed initialisation (head included) under a forked RNG: the same start on every run.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(deep.UNTRAINED_SEED)
        model = torchvision.models.resnet50(weights=None)
        model.fc = torch.nn.Linear(model.fc.in_features, 2)
    if init_weights is not None:
        deep.load_into(model, deep.load_backbone_weights(init_weights), init_weights)
    return model


def train_transform(cfg: FinetuneConfig):
    """The study's augmentation on a (1, H, W) [0, 1] crop → normalised (3, S, S) tensor."""
    import torch
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomResizedCrop(cfg.input_size, scale=cfg.crop_scale, antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(),
            v2.RandomRotation(cfg.rotation_deg),
            v2.ColorJitter(brightness=cfg.brightness, contrast=cfg.contrast),
            v2.Lambda(lambda t: t.clamp(0.0, 1.0).expand(3, -1, -1)),
            v2.Normalize(deep.IMAGENET_MEAN, deep.IMAGENET_STD),
            v2.ToDtype(torch.float32),
        ]
    )


class _CropDataset:
    """Training crops with labels; each item is augmented afresh (torch's global RNG, seeded)."""

    def __init__(self, crops: Sequence[np.ndarray], labels: np.ndarray, transform) -> None:
        import torch

        self.crops = [torch.from_numpy(np.ascontiguousarray(c, dtype=np.float32))[None] for c in crops]
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i: int):
        return self.transform(self.crops[i]), self.labels[i]


def _check_inputs(crops: Sequence[np.ndarray], labels, what: str) -> np.ndarray:
    y = np.asarray(labels).astype(int).ravel()
    if len(crops) != len(y):
        raise InputError(f"{what}: {len(crops)} crops but {len(y)} labels")
    if len(y) < 2 or not set(np.unique(y)) <= {0, 1}:
        raise InputError(f"{what}: labels must be 0/1 (1 = metastasis) with at least 2 cases; got {np.unique(y)}")
    for c in crops:
        if np.ndim(c) != 2 or min(np.shape(c)) < 2:
            raise InputError(f"{what}: every crop must be a 2-D array of at least 2×2 pixels")
    return y


def _atomic_save(obj, path: Path) -> None:
    """``torch.save`` whole or not at all (temporary file beside ``path``, fsync, rename); a full
    disk or read-only folder raises :class:`~alnpredictor.errors.OutputError` and keeps the
    previous file (the last good checkpoint or weights)."""
    import torch

    from alnpredictor.errors import OutputError
    from alnpredictor.outputs import atomic_path

    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as exc:  # torch's zip writer reports a failed write as RuntimeError
            raise OutputError(f"could not write {path}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}; "
                              "free space or choose another output folder (the previous file is kept)") from exc


def _evaluate(model, crops, y, cfg: FinetuneConfig, device: str) -> tuple[float, float]:
    """Validation (AUC, mean cross-entropy) with the deterministic extraction preprocessing."""
    import torch
    from sklearn.metrics import roc_auc_score

    model.eval()
    probs, losses = [], []
    with torch.inference_mode():
        for s in range(0, len(crops), cfg.batch_size):
            x = deep.to_network_input(crops[s : s + cfg.batch_size], cfg.input_size).to(device)
            t = torch.as_tensor(y[s : s + cfg.batch_size], device=device)
            logits = model(x).float()
            losses.append(torch.nn.functional.cross_entropy(logits, t, reduction="sum").item())
            probs.append(torch.softmax(logits, 1)[:, 1].cpu().numpy())
    p = np.concatenate(probs)
    auc = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")
    return auc, float(sum(losses) / len(y))


def _is_better(auc: float, loss: float, best: tuple[float, float] | None, monitor: str) -> bool:
    if best is None:
        return True
    if monitor == "loss" or math.isnan(auc):
        return loss < best[1]
    return auc > best[0] or (auc == best[0] and loss < best[1])


def finetune(
    train_crops: Sequence[np.ndarray],
    train_labels,
    val_crops: Sequence[np.ndarray],
    val_labels,
    out: str | Path,
    config: FinetuneConfig | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = True,
    init_weights: str | Path | None = None,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune ResNet50 on [0, 1] ROI crops (see :func:`deep.crop_to_roi`) with 0/1 labels.

    Writes the best-on-validation weights to ``out`` (a ``state_dict`` that
    :class:`deep.DeepFeatureExtractor` accepts) and ``out`` + ``.json`` (settings, history, SHA-256).
    ``checkpoint_dir`` (default: beside ``out``) holds the per-epoch checkpoint used by ``resume``."""
    import torch
    from tqdm import tqdm

    cfg = config or FinetuneConfig()
    cfg.validate()
    y_train = _check_inputs(train_crops, train_labels, "training set")
    y_val = _check_inputs(val_crops, val_labels, "validation set")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else out.parent
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = ckpt_dir / CHECKPOINT_NAME
    device = deep.resolve_device(cfg.device)
    if init_weights is None:
        log.warning("fine-tuning from an %s: give --init-weights (e.g. ImageNet ResNet50) as the study did", deep.UNTRAINED)

    model = build_study_model(init_weights).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loader_gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    start_epoch, best, best_epoch, history, resumed_from = 1, None, 0, [], None
    if resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        saved = state.get("config", {})
        for key in ("batch_size", "lr", "input_size", "seed", "monitor"):
            if saved.get(key) != json_safe(asdict(cfg))[key]:
                raise InputError(
                    f"checkpoint {ckpt_path} was made with {key}={saved.get(key)!r}, not {getattr(cfg, key)!r}; "
                    "use the same settings, another --checkpoint-dir, or --no-resume"
                )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        loader_gen.set_state(state["loader_rng"])
        start_epoch = resumed_from = int(state["epoch"]) + 1
        best = (float(state["best_auc"]), float(state["best_loss"])) if state["best_epoch"] else None
        best_epoch, history = int(state["best_epoch"]), list(state["history"])
        log.info("resuming fine-tuning after epoch %d (best so far: epoch %d)", start_epoch - 1, best_epoch)

    dataset = _CropDataset(train_crops, y_train, train_transform(cfg))
    # A last batch of one sample breaks BatchNorm in training mode: drop it when it would occur.
    drop_last = len(dataset) % cfg.batch_size == 1
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.batch_size, shuffle=True, generator=loader_gen, drop_last=drop_last, num_workers=0
    )
    threads = cfg.num_threads or deep.default_num_threads()
    ctx = deep.deterministic_cpu(threads) if device == "cpu" else _nullcontext()
    with ctx:
        epochs = range(start_epoch, cfg.epochs + 1)
        bar = tqdm(epochs, desc="fine-tuning ResNet50", unit="epoch", disable=not progress)
        for epoch in bar:
            model.train()
            total, seen = 0.0, 0
            for x, t in tqdm(loader, desc=f"epoch {epoch}", unit="batch", leave=False, disable=not progress):
                x, t = x.to(device), t.to(device)
                optimizer.zero_grad(set_to_none=True)
                loss = torch.nn.functional.cross_entropy(model(x), t)
                loss.backward()
                optimizer.step()
                total += float(loss.item()) * len(t)
                seen += len(t)
            auc, val_loss = _evaluate(model, val_crops, y_val, cfg, device)
            row = {"epoch": epoch, "train_loss": total / max(seen, 1), "val_auc": auc, "val_loss": val_loss}
            history.append(row)
            if _is_better(auc, val_loss, best, cfg.monitor):
                best, best_epoch = (auc, val_loss), epoch
                _atomic_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out)
            bar.set_postfix(val_auc=f"{auc:.3f}", val_loss=f"{val_loss:.3f}", best=best_epoch)
            _atomic_save(
                {
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "rng": torch.get_rng_state(),
                    "loader_rng": loader_gen.get_state(),
                    "best_auc": best[0],
                    "best_loss": best[1],
                    "best_epoch": best_epoch,
                    "history": history,
                    "config": json_safe(asdict(cfg)),
                },
                ckpt_path,
            )
    if not out.is_file():  # resumed after the last epoch without a weights file: nothing to keep
        raise InputError(f"no weights were saved to {out}; rerun with --no-resume")
    score = best[0] if cfg.monitor == "auc" and not math.isnan(best[0]) else best[1]
    meta = {
        "recipe": "liu2024 fine-tuning: ResNet50 2-class head, Adam, cross-entropy, flips/rotation/"
        "random resized crop/colour jitter, best-on-validation epoch",
        "config": json_safe(asdict(cfg)),
        "init_weights": Path(init_weights).name if init_weights else deep.UNTRAINED,
        "n_train": int(len(y_train)),
        "n_val": int(len(y_val)),
        "best_epoch": best_epoch,
        "best_val_auc": best[0],
        "best_val_loss": best[1],
        "history": history,
        "weights_sha256": deep.file_sha256(out),
        "torch": torch.__version__,
    }
    from alnpredictor.outputs import write_json

    write_json(Path(str(out) + ".json"), meta, default=float)
    return FinetuneResult(out, best_epoch, float(score), history, resumed_from)


def _nullcontext():
    import contextlib

    return contextlib.nullcontext()


def split_train_validation(labels, val_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified random split into training and validation indices (the held-out set picks the epoch)."""
    from sklearn.model_selection import train_test_split

    y = np.asarray(labels).astype(int)
    if not 0 < val_fraction < 1:
        raise InputError(f"validation fraction must be between 0 and 1; got {val_fraction}")
    idx = np.arange(len(y))
    counts = np.bincount(y, minlength=2)
    stratify = y if counts.min() >= 2 else None
    tr, va = train_test_split(idx, test_size=val_fraction, random_state=seed, stratify=stratify)
    return np.sort(tr), np.sort(va)
