"""The ultrasound pathway (Liu et al. 2024): one frame + a seed click → probability and points.

Per case (:func:`case_features`, :func:`process_case`):

1. read the frame (:func:`alnpredictor.imaging.io.read_volume`: a single-slice volume with its
   pixel spacing) and either read the lesion mask or grow it from the seed click(s) with 2-D
   grow-cut (:func:`alnpredictor.imaging.segment.segment`, background placed automatically);
2. deep features: ROI bounding box → 224×224 → ResNet50 pooled layer, ``DL_0`` … ``DL_2047``
   (:mod:`alnpredictor.features.deep`);
3. handcrafted features ``US_*``: BI-RADS morphology, echo/margin/posterior, LBP histograms and
   PyRadiomics 2-D texture (:mod:`alnpredictor.features.ultrasound`).

Cohort (:func:`train_us_model`): optional ICC keep-list → ``lasso-logistic`` on the features =
the DLR signature; its score plus the clinical predictors (age, BI-RADS category, nuclear grade,
axillary-US status) → ``nomogram`` (multivariable logistic) = the DLRN, with the cut-off chosen on
the training cohort (Youden). :func:`predict_case` gives probability, class and nomogram points.

``alnpredictor extract --pathway us`` (:func:`run_extract`) runs step 1–3 over a manifest with the
cohort runner (resumable, one shard per case, failures recorded).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alnpredictor.errors import InputError

log = logging.getLogger(__name__)

#: The study's clinical predictors of the nomogram (Table 3), as manifest column names.
CLINICAL = ("age", "birads", "nuclear_grade", "us_aln")
#: Column holding the DLR signature's score in the nomogram's input table.
SIGNATURE = "DLR_signature"
#: The study's DLRN cut-off (Youden, training cohort); ours is re-derived on each training cohort.
STUDY_CUTOFF = 0.407
#: Manifest aliases accepted by ``extract --pathway us`` (short names → cohort-manifest names).
ALIASES = {"image": "image_US", "mask": "mask_tumor", "seed_ras": "seeds_tumor", "background_ras": "seeds_background"}


# --------------------------------------------------------------------------- one case
def load_case(
    image: str | Path,
    mask: str | Path | None = None,
    seeds_ras: Sequence[Sequence[float]] | None = None,
    background_ras: Sequence[Sequence[float]] | None = None,
    spacing_mm: float | None = None,
):
    """Read a frame and its lesion mask (from a file, or grown from seed points in RAS mm).

    Returns ``(image, mask, source)`` with SimpleITK single-slice images on one grid and
    ``source`` ``"file"`` or ``"grow-cut"``."""
    from alnpredictor.imaging.io import read_mask, read_volume

    img = read_volume(image, spacing_mm=spacing_mm)
    if img.GetSize()[2] != 1:
        raise InputError(
            f"image '{image}' has {img.GetSize()[2]} slices; the ultrasound pathway needs the one 2-D frame "
            "at the lesion's largest diameter"
        )
    if mask is not None:
        return img, read_mask(mask, reference=img), "file"
    if not seeds_ras:
        raise InputError(f"image '{image}': give a lesion mask or at least one seed point (R,A,S mm) inside the lesion")
    from alnpredictor.imaging.segment import segment

    seg = segment(img, [list(map(float, p)) for p in seeds_ras], background_ras, structure="tumor")
    return img, seg, "grow-cut"


_EXTRACTORS: dict[tuple, Any] = {}


def get_extractor(
    weights: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 8,
    input_size: int | None = None,
    num_threads: int | None = None,
    quiet: bool = False,
):
    """A :class:`~alnpredictor.features.deep.DeepFeatureExtractor`, built once per process and setting
    (building ResNet50 and reading weights costs about a second; cohort workers reuse it)."""
    from alnpredictor.features.deep import INPUT_SIZE, DeepFeatureExtractor

    key = (str(weights) if weights else None, device, batch_size, input_size or INPUT_SIZE, num_threads)
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = DeepFeatureExtractor(
            weights=weights, device=device, batch_size=batch_size, input_size=input_size or INPUT_SIZE,
            num_threads=num_threads, quiet=quiet,
        )
    return _EXTRACTORS[key]


def case_features(image, mask, extractor=None, radiomics: bool = True, params: str | Path | None = None) -> dict[str, float]:
    """All features of one frame: ``US_*`` handcrafted then ``DL_*`` deep (untrained backbone when
    ``extractor`` is None and no weights are configured — see :func:`get_extractor`)."""
    from alnpredictor.features import deep, ultrasound

    feats = ultrasound.handcrafted_features(image, mask, radiomics=radiomics, params=params)
    img2, msk2, _ = ultrasound.frame_arrays(image, mask)
    ext = extractor if extractor is not None else get_extractor()
    values = ext.extract([img2], [msk2])[0].astype(float)
    feats.update(zip(deep.feature_names(), values.tolist()))
    return feats


def deep_provenance(extractor) -> dict:
    """What every output records about the deep features (weights, untrained backbone, versions)."""
    return dict(extractor.provenance)


def process_case(case: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """Cohort-runner entry (``alnpredictor.cohort.runner``): one manifest case → features record.

    ``case`` is :meth:`alnpredictor.cohort.manifest.Case.to_dict` (``images['US']``,
    ``masks['tumor']`` or ``seeds['tumor']``, optional ``seeds['background']``, ``clinical``).
    ``settings`` keys used: ``us_weights``, ``us_device``, ``us_input_size``, ``us_params``,
    ``us_radiomics``, ``torch_threads``, ``us_spacing_mm``, ``cache_dir`` (grow-cut masks are saved
    there for review, named by a hash of the case id)."""
    image_path = case.get("images", {}).get("US")
    if not image_path:
        raise InputError(f"case {case.get('case_id')}: no ultrasound image (manifest column image_US)")
    image, mask, source = load_case(
        image_path,
        mask=case.get("masks", {}).get("tumor"),
        seeds_ras=case.get("seeds", {}).get("tumor"),
        background_ras=case.get("seeds", {}).get("background") or None,
        spacing_mm=settings.get("us_spacing_mm"),
    )
    if source == "grow-cut" and settings.get("cache_dir"):
        from alnpredictor.cohort.runner import case_key
        from alnpredictor.imaging.io import write_mask

        write_mask(mask, Path(settings["cache_dir"]) / "us-masks" / f"{case_key(str(case['case_id']))}.nrrd")
    extractor = get_extractor(
        settings.get("us_weights") or None,
        settings.get("us_device", "auto"),
        1,
        settings.get("us_input_size"),
        settings.get("torch_threads"),
        quiet=True,  # the untrained-backbone notice is given once by extract_cohort and kept in run.json
    )
    feats = case_features(
        image, mask, extractor, radiomics=bool(settings.get("us_radiomics", True)), params=settings.get("us_params")
    )
    return {
        "features": feats,
        "clinical": dict(case.get("clinical") or {}),
        "mask_source": source,
        "deep": deep_provenance(extractor),
    }


def features_table(
    frames: Sequence[tuple[str, Any, Any]],
    extractor=None,
    radiomics: bool = True,
    params: str | Path | None = None,
    progress: bool = False,
):
    """Features of in-memory frames ``(case_id, image, mask)`` (SimpleITK single slices) as a table
    indexed by case id, in one process with batched ResNet50 inference — for notebooks, the demo and
    tests; cohorts on disk go through :func:`extract_cohort` (resumable, parallel)."""
    import pandas as pd

    from alnpredictor.features import deep, ultrasound

    ext = extractor if extractor is not None else get_extractor()
    ids, rows, crops = [], [], []
    items = frames
    if progress:
        from tqdm import tqdm

        items = tqdm(frames, desc="handcrafted features", unit="case", leave=False)
    for case_id, image, mask in items:
        rows.append(ultrasound.handcrafted_features(image, mask, radiomics=radiomics, params=params))
        img2, msk2, _ = ultrasound.frame_arrays(image, mask)
        crops.append(deep.crop_to_roi(img2, msk2))
        ids.append(case_id)
    hand = pd.DataFrame(rows, index=pd.Index(ids, name="case_id"))
    dl = pd.DataFrame(ext.extract_crops(crops, progress=progress).astype(float), columns=deep.feature_names(), index=hand.index)
    return pd.concat([hand, dl], axis=1)


# --------------------------------------------------------------------------- extract CLI
def normalise_manifest(path: str | Path, out_dir: str | Path, label: str | None = None) -> Path:
    """The manifest in cohort form (:mod:`alnpredictor.cohort.manifest`): short column names
    (``image``, ``mask``, ``seed_ras``, ``background_ras``) renamed, a ``label`` column named
    otherwise (e.g. ``ALN_status``) renamed to ``label``, ``pathway`` set to ``us``. Written to
    ``out_dir/manifest-us.csv`` when anything changed; else the original path is returned."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"manifest not found: {path}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    aliases = dict(ALIASES)
    if label and label != "label":
        if label not in df.columns:
            raise InputError(f"manifest {path} has no label column '{label}'; columns: {list(df.columns)}")
        aliases[label] = "label"
    renamed = {a: b for a, b in aliases.items() if a in df.columns and b not in df.columns}
    changed = bool(renamed) or "pathway" not in df.columns or (df["pathway"].str.lower() != "us").any()
    if not changed:
        return path
    df = df.rename(columns=renamed)
    if "pathway" in df.columns and (df["pathway"].str.strip().str.lower().isin(["mri"])).any():
        raise InputError(f"manifest {path} holds MRI cases; run them without --pathway us")
    df["pathway"] = "us"
    base = path.parent.resolve()
    for col in ("image_US", "mask_tumor"):
        if col in df.columns:  # keep paths valid from the new manifest's folder
            df[col] = [str((base / v).resolve()) if v and not Path(v).is_absolute() else v for v in df[col]]
    out = Path(out_dir) / "manifest-us.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    return out


def extraction_settings(
    weights: str | Path | None = None,
    device: str = "auto",
    input_size: int | None = None,
    params: str | Path | None = None,
    radiomics: bool = True,
    workers: int = 1,
    torch_threads: int | None = None,
) -> dict[str, Any]:
    """Settings for :func:`process_case` (primitive values: they are recorded in ``run.json``).

    Torch threads default to the available CPUs divided among the workers; the value is fixed and
    recorded because CPU results differ in the last bits between thread counts."""
    from alnpredictor.features import deep, ultrasound

    if weights is not None and not Path(weights).is_file():
        raise InputError(f"weights file not found: {weights}")
    from alnpredictor.features.params import resolve_params_path

    params_path = resolve_params_path(params) if params else ultrasound.radiomics_params_path()
    threads = torch_threads or max(1, deep.default_num_threads() // max(1, workers))
    return {
        "us_weights": str(Path(weights).resolve()) if weights else None,
        "us_deep_backbone": (f"weights file {Path(weights).name}" if weights else deep.UNTRAINED),
        "us_weights_sha256": deep.file_sha256(weights) if weights else None,
        "us_device": device,
        "us_input_size": input_size or deep.INPUT_SIZE,
        "us_params": str(params_path),
        "us_params_sha256": deep.file_sha256(params_path) if params_path.is_file() else None,
        "us_radiomics": bool(radiomics),
        "torch_threads": threads,
    }


def extract_cohort(
    manifest: str | Path,
    out_dir: str | Path,
    workers: int = 1,
    dask: Any = None,
    resume: bool = True,
    retry_failed: bool = False,
    progress: bool = True,
    **settings_kw: Any,
):
    """Features of every case of an ultrasound manifest into ``out_dir`` (see
    :func:`alnpredictor.cohort.runner.run_cohort`); returns its :class:`CohortResult`.

    ``settings_kw`` go to :func:`extraction_settings` (weights, device, input_size, params, …)."""
    from alnpredictor.cohort.runner import run_cohort

    out = Path(out_dir)
    settings = extraction_settings(workers=workers, **settings_kw)
    if settings["us_weights"] is None:
        log.warning(
            "deep features will come from an %s (no --weights): they are reproducible but not the "
            "study's fine-tuned features",
            settings["us_deep_backbone"],
        )
    result = run_cohort(
        normalise_manifest(manifest, out),
        out,
        settings=settings,
        workers=workers,
        dask=dask,
        resume=resume,
        retry_failed=retry_failed,
        progress=progress,
    )
    (out / "us-provenance.json").write_text(json.dumps(settings, indent=2))
    return result


def run_extract(args) -> int:
    """``alnpredictor extract --pathway us``: features of a manifest of frames + masks or seeds.

    ``args``: ``manifest``, ``out`` (a ``FEATURES.csv`` path: the run folder — shards, failures,
    ``run.json`` — is ``<stem>.run/`` beside it; or a folder), ``workers``, and optionally
    ``weights``, ``device``, ``input_size``, ``us_params`` (or ``params``: a shipped name such as
    ``us-liu2024`` or a path), ``no_radiomics``, ``torch_threads``, ``dask``, ``no_resume``,
    ``retry_failed``, ``quiet``. Beside a ``.csv`` output it writes ``<stem>.provenance.json``
    (deep weights or "untrained backbone", parameter file hash, versions) and, when cases failed,
    ``<stem>.failures.csv``. Exit code 0 when every case succeeded, 1 otherwise."""
    from alnpredictor.cohort.runner import publish, run_dir_for

    if not getattr(args, "manifest", None):
        raise InputError("the ultrasound pathway reads a manifest (--manifest CSV): case_id, image, mask or seed_ras")
    run_dir, _ = run_dir_for(args.out)
    result = extract_cohort(
        args.manifest,
        run_dir,
        workers=int(getattr(args, "workers", None) or 1),
        dask=getattr(args, "dask", None),
        resume=not getattr(args, "no_resume", False),
        retry_failed=bool(getattr(args, "retry_failed", False)),
        progress=not getattr(args, "quiet", False),
        weights=getattr(args, "weights", None),
        device=getattr(args, "device", None) or "auto",
        input_size=getattr(args, "input_size", None),
        params=getattr(args, "us_params", None) or getattr(args, "params", None),
        radiomics=not getattr(args, "no_radiomics", False),
        torch_threads=getattr(args, "torch_threads", None),
    )
    settings = json.loads((run_dir / "us-provenance.json").read_text())
    summary = {"pathway": "us", **publish(args.out, result, {"pathway": "us", "manifest": str(args.manifest), **settings}),
               "deep_backbone": settings["us_deep_backbone"]}
    print(json.dumps(summary))
    return 0 if result.failed == 0 else 1


# --------------------------------------------------------------------------- crops for fine-tuning
def load_crops(manifest: str | Path, label: str = "label", positive: str | int = 1) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """ROI crops ([0, 1], bounding box) and 0/1 labels of every labelled case of a manifest, for
    :func:`alnpredictor.features.finetune.finetune`. Cases that fail to load are skipped with a warning."""
    from alnpredictor.cohort.manifest import load_manifest
    from alnpredictor.features import deep, ultrasound

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


# --------------------------------------------------------------------------- ICC robustness
def robust_features(
    frames: Sequence[tuple[str, Any, Any]],
    extractor=None,
    threshold: float = 0.8,
    kind: str = "icc3_1",
    shifts: bool = True,
    radiomics: bool = True,
    params: str | Path | None = None,
):
    """The study's ICC > 0.8 filter, automated: every lesion outline is perturbed (one pixel eroded,
    dilated and shifted in-plane — the differences between two readers' outlines), all features are
    re-extracted for each perturbation, and ICC per feature is computed across perturbations.

    ``frames``: ``(case_id, image, mask)`` with SimpleITK single-slice images (≥ 2; the study used
    60 patients). Returns :class:`alnpredictor.features.robustness.RobustnessResult`; pass its
    ``keep`` to :func:`train_us_model` as ``icc_keep``."""
    import pandas as pd
    import SimpleITK as sitk

    from alnpredictor.features.robustness import RobustnessResult, geometric_perturbations
    from alnpredictor.stats.icc import icc_from_raters, keep_features

    if len(frames) < 2:
        raise InputError("the ICC filter needs at least 2 lesions (it compares between-lesion variance)")
    ext = extractor if extractor is not None else get_extractor()
    rows: dict[str, dict[str, dict[str, float]]] = {}
    failures: dict[str, dict[str, str]] = {}
    for case_id, image, mask in frames:
        roi = sitk.GetArrayFromImage(mask) > 0
        for name, arr in geometric_perturbations(roi, shifts=shifts).items():
            pert = sitk.GetImageFromArray(arr.astype(np.uint8))
            pert.CopyInformation(mask)
            try:
                rows.setdefault(name, {})[case_id] = case_features(image, pert, ext, radiomics=radiomics, params=params)
            except InputError as exc:  # e.g. erosion removes a tiny lesion: that case leaves this rater
                failures.setdefault(case_id, {})[name] = str(exc)
    ratings = {name: pd.DataFrame.from_dict(per_case, orient="index") for name, per_case in rows.items()}
    table = icc_from_raters(ratings)
    return RobustnessResult(table, keep_features(table, threshold, kind), threshold, kind, ratings, failures)


# --------------------------------------------------------------------------- models
class USModel:
    """The trained ultrasound models: the DLR signature (LASSO logistic on deep + handcrafted
    features) and the DLRN nomogram (signature + clinical predictors), with the deep-feature
    provenance they were trained on (features from other weights would be meaningless)."""

    SIGNATURE_BUNDLE = "dlr-signature.alnmodel"
    NOMOGRAM_BUNDLE = "dlrn.alnmodel"

    def __init__(self, signature, nomogram=None) -> None:
        self.signature = signature
        self.nomogram = nomogram

    @property
    def pathway(self) -> dict:
        """Deep-feature provenance recorded at training (weights SHA-256 or untrained backbone, input size)."""
        return dict(self.signature.spec.get("details", {}).get("us_pathway") or {})

    @property
    def final(self):
        """The model that gives the patient's probability: the nomogram when there is one."""
        return self.nomogram if self.nomogram is not None else self.signature

    def save(self, out_dir: str | Path) -> Path:
        """Write ``out_dir/dlr-signature.alnmodel`` and ``out_dir/dlrn.alnmodel`` (model bundles)."""
        from alnpredictor.models.bundle import save_bundle

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        save_bundle(self.signature, out / self.SIGNATURE_BUNDLE)
        if self.nomogram is not None:
            save_bundle(self.nomogram, out / self.NOMOGRAM_BUNDLE)
        return out

    @classmethod
    def load(cls, folder: str | Path) -> USModel:
        """Load what :meth:`save` wrote (bundles checked for integrity by the models module)."""
        from alnpredictor.models.bundle import load_bundle

        folder = Path(folder)
        if not (folder / cls.SIGNATURE_BUNDLE).is_dir():
            raise InputError(f"{folder} holds no ultrasound model ({cls.SIGNATURE_BUNDLE} missing); train one first")
        nomo = folder / cls.NOMOGRAM_BUNDLE
        return cls(load_bundle(folder / cls.SIGNATURE_BUNDLE), load_bundle(nomo) if nomo.is_dir() else None)


_RADIOMICS_IMAGE_TYPES = ("original", "wavelet", "log-sigma", "square", "squareroot", "logarithm", "exponential",
                          "gradient", "lbp-2D", "lbp-3D")


def is_radiomics_feature(name: str) -> bool:
    """``US_{image type}_{class}_{feature}``: a PyRadiomics feature (vs. our own ``US_*`` features)."""
    if not name.startswith("US_"):
        return False
    head = name[3:].split("_", 1)[0]
    return any(head == t or head.startswith(t + "-") for t in _RADIOMICS_IMAGE_TYPES)


def feature_columns(table) -> list[str]:
    """The pathway's feature columns of a table: ``US_*`` and ``DL_*`` (never clinical or ids)."""
    return [c for c in table.columns if str(c).startswith(("US_", "DL_"))]


def train_us_model(
    table,
    label: str = "label",
    clinical: Sequence[str] | None = CLINICAL,
    positive: Any = 1,
    icc_keep: Sequence[str] | str | Path | None = None,
    provenance: Mapping[str, Any] | None = None,
    seed: int = 0,
    name: str = "DLRN",
    **lasso_opts: Any,
) -> USModel:
    """Train the DLR signature and the DLRN on a feature table (one row per case).

    ``table``: what :func:`extract_cohort` writes (``US_*``, ``DL_*``, clinical columns, label).
    ``clinical``: the nomogram's clinical predictors (the study's four by default; ``None`` or ``[]``
    for the signature only). ``icc_keep``: features passing the ICC filter (:func:`robust_features`).
    ``provenance``: the extraction settings (``us-provenance.json``) — the deep weights' SHA-256 is
    stored so that prediction refuses features from other weights. ``lasso_opts``: ``n_folds``,
    ``n_lambda``, ``lambda_min_ratio``, ``lambda_rule`` of the models module."""
    from alnpredictor.models.train import train_model

    feats = feature_columns(table)
    if not feats:
        raise InputError("the table has no US_* or DL_* feature columns; extract features with --pathway us first")
    sig = train_model(
        table, label, "lasso-logistic", positive=positive, features=feats, icc_keep=icc_keep, seed=seed,
        name=f"{name} DLR signature", **lasso_opts,
    )
    prov = dict(provenance or {})
    sig.spec["details"]["us_pathway"] = {
        "deep_backbone": prov.get("us_deep_backbone"),
        "weights_sha256": prov.get("us_weights_sha256"),
        "input_size": prov.get("us_input_size"),
        "radiomics_params": Path(prov["us_params"]).name if prov.get("us_params") else None,
        "radiomics_params_sha256": prov.get("us_params_sha256"),
        "n_deep_selected": sum(f.startswith("DL_") for f in sig.features),
        "n_handcrafted_selected": sum(f.startswith("US_") for f in sig.features),
    }
    nomo = None
    if clinical:
        missing = [c for c in clinical if c not in table.columns]
        if missing:
            raise InputError(f"clinical column(s) {missing} not in the table; give them or train with clinical=[]")
        nomo = train_model(
            table, label, "nomogram", clinical=list(clinical), positive=positive, signature=sig,
            signature_name=SIGNATURE, seed=seed, name=name,
        )
        nomo.spec["details"]["us_pathway"] = sig.spec["details"]["us_pathway"]
    return USModel(sig, nomo)


def validate_us_model(model: USModel, table, label: str = "label", positive: Any = 1, **kw: Any) -> dict:
    """Validation statistics (AUC with DeLong CI, metrics at the training cut-off, calibration,
    warnings) of the signature and the nomogram on a labelled cohort: ``{"signature": …, "nomogram": …}``."""
    from alnpredictor.models.validation import validate

    out = {"signature": validate(model.signature, table, label, positive, **kw)}
    if model.nomogram is not None:
        out["nomogram"] = validate(model.nomogram, table, label, positive, **kw)
    return out


def check_deep_weights(model: USModel, extractor) -> None:
    """Refuse to predict with deep features from other weights than the model was trained on."""
    from alnpredictor.errors import ModelBundleError

    trained = model.pathway
    if not trained or not any(f.startswith("DL_") for f in model.signature.features):
        return
    want, have = trained.get("weights_sha256"), extractor.provenance.get("weights_sha256")
    if want != have:
        what = trained.get("deep_backbone") or "unknown weights"
        raise ModelBundleError(
            f"the model was trained on deep features from {what} (SHA-256 {str(want)[:12]}…), but the extractor "
            f"uses {extractor.provenance.get('weights')} (SHA-256 {str(have)[:12]}…); pass the same --weights file"
        )
    if trained.get("input_size") and int(trained["input_size"]) != extractor.input_size:
        raise ModelBundleError(
            f"the model was trained on {trained['input_size']}-pixel network inputs, the extractor uses {extractor.input_size}"
        )


def predict_case(
    model: USModel | str | Path,
    image: str | Path | Any,
    mask: str | Path | Any | None = None,
    seeds_ras: Sequence[Sequence[float]] | None = None,
    clinical: Mapping[str, Any] | None = None,
    weights: str | Path | None = None,
    background_ras: Sequence[Sequence[float]] | None = None,
    device: str = "auto",
    params: str | Path | None = None,
) -> dict:
    """One patient: frame (+ mask or seed click) + clinical values → probability, class at the
    cut-off, nomogram points per predictor and total points.

    ``image``/``mask`` are paths or SimpleITK images (single slice). The result also holds the
    signature's own probability (``signature``), the mask source and the deep-feature provenance."""
    import SimpleITK as sitk

    model = model if isinstance(model, USModel) else USModel.load(model)
    if isinstance(image, sitk.Image):
        img = image
        if mask is None:
            from alnpredictor.imaging.segment import segment

            if not seeds_ras:
                raise InputError("give the lesion mask or at least one seed point (R,A,S mm) inside the lesion")

            msk, source = segment(img, seeds_ras, background_ras, structure="tumor"), "grow-cut"
        else:
            msk, source = mask, "given"
    else:
        img, msk, source = load_case(image, mask if not isinstance(mask, sitk.Image) else None, seeds_ras, background_ras)
    from alnpredictor.features.ultrasound import radiomics_params_path

    trained = model.pathway
    ext = get_extractor(weights, device, 1, trained.get("input_size"), None)
    check_deep_weights(model, ext)

    uses_radiomics = any(is_radiomics_feature(f) for f in model.signature.features)
    params_path = Path(params) if params else (radiomics_params_path().with_name(trained["radiomics_params"])
                                               if trained.get("radiomics_params") else None)
    if uses_radiomics and trained.get("radiomics_params_sha256") and params_path is not None:
        from alnpredictor.features.deep import file_sha256

        if not params_path.is_file() or file_sha256(params_path) != trained["radiomics_params_sha256"]:
            raise InputError(
                f"the model's PyRadiomics features were computed with {trained['radiomics_params']} "
                f"(SHA-256 {trained['radiomics_params_sha256'][:12]}…); give that parameter file (params=...)"
            )
    feats = case_features(img, msk, ext, radiomics=uses_radiomics, params=params_path)
    row = {f: feats[f] for f in model.signature.features}
    row.update(dict(clinical or {}))
    result = model.final.predict_case(row)
    result["signature"] = model.signature.predict_case({f: feats[f] for f in model.signature.features})
    result["mask_source"] = source
    result["deep"] = deep_provenance(ext)
    return result
