"""``alnpredictor finetune``: fine-tune ResNet50 on a site's ultrasound ROIs (the US study's recipe).

    alnpredictor finetune --manifest cohort.csv --out resnet50-site.pt [--label ALN_status]
        [--epochs 30] [--batch-size 16] [--lr 1e-4] [--seed 0] [--val-fraction 0.2]
        [--init-weights imagenet-resnet50.pth] [--checkpoint-dir DIR] [--no-resume]

The manifest is an ultrasound cohort manifest (``case_id``, ``image_US`` or ``image``, a mask
``mask_tumor``/``mask`` or seeds ``seeds_tumor``/``seed_ras``, and the label). The weights file
written is what ``alnpredictor extract --pathway us --weights FILE`` takes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune ResNet50 on ultrasound ROI crops (Adam 1e-4, augmentation, best-on-validation)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--manifest", required=True, help="ultrasound cohort manifest (CSV)")
    p.add_argument("--out", required=True, help="weights file to write (.pt); a .json summary is written beside it")
    p.add_argument("--label", default="label", help="label column (default: label)")
    p.add_argument("--positive", default="1", help="label value meaning metastasis (default: 1)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (study: 1e-4)")
    p.add_argument("--input-size", type=int, default=224, help="network input side (study: 224)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation order and augmentation")
    p.add_argument("--val-fraction", type=float, default=0.2, help="stratified validation share (picks the epoch)")
    p.add_argument("--monitor", choices=("auc", "loss"), default="auc", help="validation score that picks the epoch")
    p.add_argument("--init-weights", help="local ResNet50 weights to start from (e.g. ImageNet); none: random init")
    p.add_argument("--checkpoint-dir", help="where the per-epoch checkpoint lives (default: beside --out)")
    p.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json

    from alnpredictor.features.finetune import FinetuneConfig, finetune, split_train_validation

    crops, labels, _ = load_crops(args.manifest, label=args.label, positive=args.positive)
    tr, va = split_train_validation(labels, args.val_fraction, args.seed)
    cfg = FinetuneConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        input_size=args.input_size,
        seed=args.seed,
        monitor=args.monitor,
        device=args.device,
    )
    result = finetune(
        [crops[i] for i in tr],
        labels[tr],
        [crops[i] for i in va],
        labels[va],
        args.out,
        cfg,
        checkpoint_dir=args.checkpoint_dir,
        resume=not args.no_resume,
        init_weights=args.init_weights,
        progress=not args.quiet,
    )
    print(
        json.dumps(
            {
                "weights": str(result.weights),
                "best_epoch": result.best_epoch,
                "best_score": result.best_score,
                "monitor": args.monitor,
                "n_train": int(len(tr)),
                "n_val": int(len(va)),
                "resumed_from_epoch": result.resumed_from,
            }
        )
    )
    return 0


def load_crops(manifest: str | Path, label: str = "label", positive: str | int = 1) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """ROI crops ([0, 1], bounding box) and 0/1 labels of every labelled case of a manifest, for
    :func:`alnpredictor.features.finetune.finetune`. Cases that fail to load are skipped with a warning."""
    import tempfile

    import numpy as np

    from alnpredictor.cli.extract_us import normalise_manifest
    from alnpredictor.cohort.manifest import load_manifest
    from alnpredictor.errors import InputError
    from alnpredictor.features import deep, ultrasound
    from alnpredictor.pathways.us import load_case

    with tempfile.TemporaryDirectory(prefix="alnpredictor-us-") as tmp:
        mf = load_manifest(normalise_manifest(manifest, tmp, label=label))
    crops, labels, ids = [], [], []
    for case in mf.runnable():
        value = case.label
        if value is None or str(value).strip() == "":
            continue
        try:
            image, mask, _ = load_case(
                case.images["US"], case.masks.get("tumor"), case.seeds.get("tumor"), case.seeds.get("background")
            )
            img2, msk2, _ = ultrasound.frame_arrays(image, mask)
            crops.append(deep.crop_to_roi(img2, msk2))
        except InputError as exc:
            log.warning("case %s skipped: %s", case.case_id, exc)
            continue
        labels.append(int(str(value).strip() == str(positive)))
        ids.append(case.case_id)
    if not crops:
        raise InputError(f"manifest {manifest}: no labelled case could be loaded (label column '{label}')")
    return crops, np.asarray(labels), ids
