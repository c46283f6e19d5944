"""Training and validation of the ultrasound models (Liu et al. 2024): ICC filter → DLR signature → DLRN.

The study's steps on a feature table (one row per case, ``US_*`` and ``DL_*`` columns from
``alnpredictor extract --pathway us`` or :func:`features_table`, clinical columns, the label):

1. optional ICC > 0.8 keep-list (:func:`robust_features`: every outline perturbed by one pixel);
2. ``lasso-logistic`` on the remaining features = the **DLR signature**;
3. its score plus the clinical predictors (age, BI-RADS category, nuclear grade, axillary-US status)
   → ``nomogram`` (multivariable logistic, points) = the **DLRN**, cut-off by Youden on the training
   cohort (the study's was 0.407).

:func:`train_us_model` returns ONE self-sufficient model: the DLRN holds the signature's
coefficients, so its bundle (``save_bundle``) is all that prediction needs
(:func:`alnpredictor.pathways.us.load_model` → :func:`~alnpredictor.pathways.us.run_case` →
:func:`~alnpredictor.pathways.us.predict`). It also records what the features were computed with
(deep weights' SHA-256 or "untrained backbone", network input size, PyRadiomics parameter file),
and :func:`check_settings` refuses to predict from features computed otherwise.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alnpredictor.errors import InputError
from alnpredictor.pathways.us import (
    CLINICAL,
    DETAILS_KEY,
    SIGNATURE,
    case_features,
    extractor_for,
    feature_provenance,
    trained_inputs,
)
from alnpredictor.settings import USSettings


def feature_columns(table) -> list[str]:
    """The pathway's feature columns of a table: ``US_*`` and ``DL_*`` (never clinical or ids)."""
    return [c for c in table.columns if str(c).startswith(("US_", "DL_"))]


# --------------------------------------------------------------------------- feature tables
def features_table(
    frames: Sequence[tuple[str, Any, Any]],
    settings: USSettings | None = None,
    extractor=None,
    progress: bool = False,
):
    """Features of in-memory frames ``(case_id, image, mask)`` (SimpleITK single slices) as a table
    indexed by case id, in one process with batched ResNet50 inference — for notebooks, the demo and
    tests; cohorts on disk go through ``alnpredictor extract --pathway us`` (resumable, parallel).
    The values are those of :func:`alnpredictor.pathways.us.run_case` with the same settings."""
    import pandas as pd

    from alnpredictor.features import deep, ultrasound
    from alnpredictor.pathways.us import radiomics_params

    settings = settings or USSettings()
    ext = extractor if extractor is not None else extractor_for(settings, batch_size=8)
    params = radiomics_params(settings) if settings.radiomics else None
    ids, rows, crops = [], [], []
    items = frames
    if progress:
        from tqdm import tqdm

        items = tqdm(frames, desc="handcrafted features", unit="case", leave=False)
    for case_id, image, mask in items:
        rows.append(ultrasound.handcrafted_features(image, mask, radiomics=settings.radiomics, params=params))
        img2, msk2, _ = ultrasound.frame_arrays(image, mask)
        crops.append(deep.crop_to_roi(img2, msk2))
        ids.append(case_id)
    hand = pd.DataFrame(rows, index=pd.Index(ids, name="case_id"))
    dl = pd.DataFrame(ext.extract_crops(crops, progress=progress).astype(float), columns=deep.feature_names(),
                      index=hand.index)
    return pd.concat([hand, dl], axis=1)


def robust_features(
    frames: Sequence[tuple[str, Any, Any]],
    settings: USSettings | None = None,
    extractor=None,
    threshold: float = 0.8,
    kind: str = "icc3_1",
    shifts: bool = True,
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
    settings = settings or USSettings()
    ext = extractor if extractor is not None else extractor_for(settings, batch_size=8)
    rows: dict[str, dict[str, dict[str, float]]] = {}
    failures: dict[str, dict[str, str]] = {}
    for case_id, image, mask in frames:
        roi = sitk.GetArrayFromImage(mask) > 0
        for name, arr in geometric_perturbations(roi, shifts=shifts).items():
            pert = sitk.GetImageFromArray(arr.astype(np.uint8))
            pert.CopyInformation(mask)
            try:
                rows.setdefault(name, {})[case_id] = case_features(image, pert, settings, ext)
            except InputError as exc:  # e.g. erosion removes a tiny lesion: that case leaves this rater
                failures.setdefault(case_id, {})[name] = str(exc)
    ratings = {name: pd.DataFrame.from_dict(per_case, orient="index") for name, per_case in rows.items()}
    table = icc_from_raters(ratings)
    return RobustnessResult(table, keep_features(table, threshold, kind), threshold, kind, ratings, failures)


# --------------------------------------------------------------------------- training
def _feature_inputs(provenance: USSettings | Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    """What the training features were computed with: from settings, a ``feature_provenance`` dict,
    or the provenance JSON that ``extract --pathway us`` writes (``<stem>.provenance.json``)."""
    if provenance is None:
        provenance = USSettings()
    if isinstance(provenance, USSettings):
        provenance = feature_provenance(provenance)
    elif isinstance(provenance, (str, Path)):
        path = Path(provenance)
        if not path.is_file():
            raise InputError(f"feature provenance file not found: {path} (extract writes <stem>.provenance.json)")
        provenance = json.loads(path.read_text())
    params = provenance.get("radiomics_params")
    return {
        "deep_backbone": provenance.get("deep_backbone"),
        "weights_sha256": provenance.get("weights_sha256"),
        "input_size": provenance.get("input_size"),
        "radiomics_params": Path(params).name if params else None,
        "radiomics_params_sha256": provenance.get("radiomics_params_sha256"),
    }


def train_us_model(
    table,
    label: str = "label",
    clinical: Sequence[str] | None = CLINICAL,
    positive: Any = 1,
    icc_keep: Sequence[str] | str | Path | None = None,
    provenance: USSettings | Mapping[str, Any] | str | Path | None = None,
    seed: int = 0,
    name: str = "DLRN",
    **lasso_opts: Any,
):
    """Train the DLR signature and the DLRN on a feature table; returns ONE self-sufficient
    :class:`~alnpredictor.models.FittedModel` (save it with ``alnpredictor.models.save_bundle``).

    ``table``: what ``extract --pathway us`` writes (``US_*``, ``DL_*``, clinical columns, label).
    ``clinical``: the nomogram's clinical predictors (the study's four by default): the model is the
    DLRN, a ``nomogram`` whose first predictor ``DLR_signature`` is the LASSO signature's score (its
    coefficients are stored in the model; its own training cut-off and metrics in
    ``details['us_pathway']['signature']``). ``None`` or ``[]``: the model is the DLR signature alone.
    ``icc_keep``: features passing the ICC filter (:func:`robust_features`). ``provenance``: what the
    features were computed with — the :class:`~alnpredictor.settings.USSettings`, the
    ``feature_provenance`` dict, or the ``<stem>.provenance.json`` of the extraction (default: the
    default settings, an untrained backbone). ``lasso_opts``: ``n_folds``, ``n_lambda``,
    ``lambda_min_ratio``, ``lambda_rule`` of :func:`alnpredictor.models.train_model`."""
    from alnpredictor.models import train_model

    feats = feature_columns(table)
    if not feats:
        raise InputError("the table has no US_* or DL_* feature columns; extract features with --pathway us first")
    if clinical:
        missing = [c for c in clinical if c not in table.columns]
        if missing:
            raise InputError(f"clinical column(s) {missing} not in the table; give them or train with clinical=[]")
    sig = train_model(
        table, label, "lasso-logistic", positive=positive, features=feats, icc_keep=icc_keep, seed=seed,
        name=f"{name} DLR signature", **lasso_opts,
    )
    inputs = _feature_inputs(provenance)
    inputs.update(
        n_deep_selected=sum(f.startswith("DL_") for f in sig.features),
        n_handcrafted_selected=sum(f.startswith("US_") for f in sig.features),
    )
    if not clinical:
        sig.spec["details"][DETAILS_KEY] = inputs
        return sig
    # The DLR signature enters as a fixed linear score (its coefficients are copied into the DLRN),
    # so the DLRN alone predicts a patient.
    model = train_model(
        table, label, "nomogram", clinical=list(clinical), positive=positive, signature=sig,
        signature_name=SIGNATURE, seed=seed, name=name,
    )
    model.spec["details"]["signature_training"] = sig.spec["details"]
    inputs["signature"] = {"name": sig.name, "cutoff": sig.cutoff, "metrics": sig.spec["metrics"]}
    model.spec["details"][DETAILS_KEY] = inputs
    return model


# --------------------------------------------------------------------------- validation
def _signature_table(model, folder: Path) -> Path | None:
    """The DLRN's signature as a coefficient table (the public form ``validate`` reads), or None."""
    import pandas as pd

    sig = model.spec.get("signature")
    if not sig or sig.get("kind") != "linear":
        return None
    name = str(trained_inputs(model).get("signature", {}).get("name") or sig.get("model_name") or SIGNATURE)
    rows = [{"feature": "(intercept)", "coefficient": float(sig.get("intercept") or 0.0)}]
    rows += [{"feature": f, "coefficient": float(c)} for f, c in zip(sig["features"], sig["coefficients"])]
    path = folder / f"{name.replace('/', '_')}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def validate_us_model(model, table, label: str = "label", positive: Any = 1, **kw: Any) -> dict:
    """Validation statistics (AUC with DeLong CI, metrics at the training cut-off, calibration,
    warnings; :func:`alnpredictor.models.validate`) on a labelled cohort:
    ``{"signature": …, "nomogram": …}`` for a DLRN (the signature at its own training cut-off),
    ``{"signature": …}`` for a signature-only model."""
    from alnpredictor.models import validate

    if model.recipe != "nomogram":
        return {"signature": validate(model, table, label, positive, **kw)}
    out = {"nomogram": validate(model, table, label, positive, **kw)}
    with tempfile.TemporaryDirectory(prefix="alnpredictor-us-") as tmp:
        coefficients = _signature_table(model, Path(tmp))
        if coefficients is not None:
            cut = trained_inputs(model).get("signature", {}).get("cutoff")
            opts = dict(kw)
            stored = cut is not None and opts.get("cutoff") is None
            if stored:
                opts["cutoff"] = cut
            out["signature"] = validate(coefficients, table, label, positive, **opts)
            if stored:
                out["signature"]["cutoff_source"] = "model (training cohort)"
    return {"signature": out["signature"], **out} if "signature" in out else out
