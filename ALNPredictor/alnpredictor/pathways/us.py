"""The ultrasound pathway for one patient (Liu et al. 2024 data flow) — the one place it is assembled.

one 2-D frame at the lesion's largest diameter + a lesion mask or seed click(s) → 2-D grow-cut of
the ``tumor`` when there is no mask (background placed automatically) → handcrafted features
``US_*`` (BI-RADS morphology, echo/margin/posterior, LBP, PyRadiomics 2-D texture;
:mod:`alnpredictor.features.ultrasound`) and deep features ``DL_0`` … ``DL_2047`` (ROI bounding box →
224×224 → ResNet50 pooled layer; :mod:`alnpredictor.features.deep`) → one feature row.

Verbs (the same as :mod:`alnpredictor.pathways.mri`):

* :func:`run_case` — an in-memory frame (and mask or seeds) → :class:`USCaseResult`; the Slicer Logic
  calls it with the scene's volume and its segment or seed points;
* :func:`process_case` — one manifest case (``Case.to_dict()``) → JSON-ready record: what the cohort
  runner calls per row (``alnpredictor extract --pathway us``, :mod:`alnpredictor.cli.extract_us`);
* :func:`load_model` / :func:`predict` — a model bundle (the DLRN: nomogram of the DLR signature and
  the clinical predictors, one self-sufficient bundle) and the clinical checks + prediction.

Training and validation of the models (ICC keep-list → LASSO DLR signature → DLRN) live in
:mod:`alnpredictor.pathways.us_model`. Every front door passes
:class:`~alnpredictor.settings.USSettings`; the library thread count is pinned per case
(:mod:`alnpredictor.runtime`) and the torch thread count by the settings, so every front door gets
the same features for the same inputs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from alnpredictor import study
from alnpredictor.errors import InputError, ModelBundleError
from alnpredictor.runtime import library_threads
from alnpredictor.settings import USSettings, as_record

log = logging.getLogger(__name__)

Points = Sequence[Sequence[float]]

#: The study's clinical predictors of the nomogram (Table 3), as manifest column names.
CLINICAL = study.US_CLINICAL
#: Predictor name of the DLR signature's score in the DLRN nomogram.
SIGNATURE = "DLR_signature"
#: The study's DLRN cut-off (Youden, training cohort); ours is re-derived on each training cohort.
STUDY_CUTOFF = 0.407
#: Where the one structure of this pathway is segmented.
STRUCTURE = study.PATHWAY_STRUCTURES["us"][0]


@dataclass
class USCaseResult:
    """Features of one frame plus what a reviewer needs to trust them.

    :ivar features: ``US_*`` handcrafted then ``DL_*`` deep features → value.
    :ivar mask: the lesion mask used (single slice, on the frame's grid).
    :ivar mask_source: ``given`` (a mask was passed) or ``grow-cut`` (grown from the seed points).
    :ivar quality: ``segmentation`` summary when the mask was grown.
    :ivar provenance: ``deep`` (the ResNet50's weights or "untrained backbone", SHA-256, input size,
        device, threads, versions), the PyRadiomics parameter file and its SHA-256, ``settings``.
    """

    features: dict[str, float]
    mask: sitk.Image
    mask_source: str
    quality: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


# --------------------------------------------------------------------------- the frame and its mask
def _as_frame(image: sitk.Image, what: str) -> sitk.Image:
    """A single-slice 3-D image (2-D images get one slice); refuses volumes."""
    if image.GetDimension() == 2:
        return sitk.JoinSeries(image)
    if image.GetDimension() != 3 or image.GetSize()[2] != 1:
        raise InputError(
            f"{what} has {image.GetSize()[2] if image.GetDimension() == 3 else image.GetDimension()} slices; "
            "the ultrasound pathway needs the one 2-D frame at the lesion's largest diameter"
        )
    return image


def read_frame(path: str | Path, spacing_mm: float | None = None) -> sitk.Image:
    """Read an ultrasound frame (:func:`alnpredictor.imaging.io.read_volume`: a single-slice volume with
    its pixel spacing; ``spacing_mm`` for files without one)."""
    from alnpredictor.imaging.io import read_volume

    return _as_frame(read_volume(path, spacing_mm=spacing_mm), f"image '{path}'")


def segment_frame(image: sitk.Image, seeds_ras: Points | None = None, background_ras: Points | None = None,
                  threads: int = 1, *, line_ras: Points | None = None, box_ras: Points | None = None,
                  corrections: Sequence[tuple] = ()) -> tuple[sitk.Image, dict[str, Any]]:
    """Grow the lesion with 2-D grow-cut from its prompts (RAS mm): seed click(s), or a caliper line
    (two end points), or a box (two opposite corners), plus correction clicks ``(point, positive)``;
    the mask and a summary (its ``warnings`` say when to check the outline).

    :raises ClickRefusedError: one click did not determine the lesion (draw the caliper line)."""
    from alnpredictor.imaging.segment import Prompts, get_segmenter

    def pts(values):
        return [[float(v) for v in p] for p in values] if values is not None and len(values) else []

    seeds, background = pts(seeds_ras), pts(background_ras)
    lines = {STRUCTURE: [pts(line_ras)]} if line_ras is not None and len(line_ras) else {}
    boxes = {STRUCTURE: [pts(box_ras)]} if box_ras is not None and len(box_ras) else {}
    prompts = Prompts({STRUCTURE: seeds} if seeds else {}, background=background or None, lines=lines, boxes=boxes,
                      corrections=[(p, STRUCTURE, bool(pos)) for p, pos in corrections])
    with library_threads(threads):
        result = get_segmenter("grow-cut").segment(image, prompts)
    return result.masks[STRUCTURE], result.summary()


def load_case(
    image: str | Path,
    mask: str | Path | None = None,
    seeds_ras: Points | None = None,
    background_ras: Points | None = None,
    spacing_mm: float | None = None,
) -> tuple[sitk.Image, sitk.Image, str]:
    """Read a frame and its lesion mask (from a file, or grown from seed points in RAS mm).

    Returns ``(image, mask, source)`` with SimpleITK single-slice images on one grid and ``source``
    ``"file"`` or ``"grow-cut"``."""
    from alnpredictor.imaging.io import read_mask

    img = read_frame(image, spacing_mm)
    if mask is not None:
        return img, read_mask(mask, reference=img), "file"
    if not seeds_ras:
        raise InputError(f"image '{image}': give a lesion mask or at least one seed point (R,A,S mm) inside the lesion")
    grown, _ = segment_frame(img, seeds_ras, background_ras)
    return img, grown, "grow-cut"


# --------------------------------------------------------------------------- features
_EXTRACTORS: dict[tuple, Any] = {}


def extractor_for(settings: USSettings | None = None, batch_size: int = 1, quiet: bool = False):
    """The :class:`~alnpredictor.features.deep.DeepFeatureExtractor` of these settings, built once per
    process (building ResNet50 and reading weights costs about a second; cohort workers reuse it).
    ``batch_size`` never changes the values."""
    from alnpredictor.features.deep import DeepFeatureExtractor

    settings = settings or USSettings()
    key = (str(settings.weights) if settings.weights else None, settings.device, batch_size, settings.input_size,
           settings.torch_threads)
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = DeepFeatureExtractor(
            weights=settings.weights or None, device=settings.device, batch_size=batch_size,
            input_size=settings.input_size, num_threads=settings.torch_threads, quiet=quiet,
        )
    return _EXTRACTORS[key]


def radiomics_params(settings: USSettings) -> Path:
    """The PyRadiomics parameter file of these settings (a shipped name such as ``us-liu2024``, or a path)."""
    from alnpredictor.features.params import resolve_params_path

    return resolve_params_path(settings.params)


def feature_provenance(settings: USSettings) -> dict[str, Any]:
    """What a feature table computed with these settings must record, without building the network:
    the deep backbone (weights file or "untrained backbone") and its SHA-256, the network input size,
    and the PyRadiomics parameter file and its SHA-256. A model trained on the table stores it
    (:func:`alnpredictor.pathways.us_model.train_us_model`) and refuses features computed otherwise."""
    from alnpredictor.features import deep

    params = radiomics_params(settings) if settings.radiomics else None
    weights, backbone = deep.resolve_weights(settings.weights or None)
    return {
        "deep_backbone": backbone,
        "weights_sha256": deep.file_sha256(weights) if weights else None,
        "input_size": settings.input_size,
        "radiomics": settings.radiomics,
        "radiomics_params": str(params) if params else None,
        "radiomics_params_sha256": deep.file_sha256(params) if params else None,
    }


def case_features(image: sitk.Image, mask: sitk.Image, settings: USSettings | None = None,
                  extractor=None) -> dict[str, float]:
    """All features of one frame: ``US_*`` handcrafted then ``DL_*`` deep (the extractor of
    ``settings`` when ``extractor`` is None: an untrained backbone unless ``settings.weights``)."""
    from alnpredictor.features import deep, ultrasound

    settings = settings or USSettings()
    params = radiomics_params(settings) if settings.radiomics else None
    feats = ultrasound.handcrafted_features(image, mask, radiomics=settings.radiomics, params=params,
                                            allow_border=settings.allow_border)
    img2, msk2, _ = ultrasound.frame_arrays(image, mask)
    ext = extractor if extractor is not None else extractor_for(settings)
    values = ext.extract([img2], [msk2])[0].astype(float)
    feats.update(zip(deep.feature_names(), values.tolist()))
    return feats


# --------------------------------------------------------------------------- the verbs
def run_case(
    image: sitk.Image,
    settings: USSettings | None = None,
    *,
    mask: sitk.Image | None = None,
    seeds_ras: Points | None = None,
    background_ras: Points | None = None,
    extractor=None,
    line_ras: Points | None = None,
    box_ras: Points | None = None,
) -> USCaseResult:
    """The whole ultrasound chain on an in-memory frame (SimpleITK single-slice volume, or 2-D).

    A frame read from a file without a pixel spacing (PNG/JPEG without ``spacing_mm``) is refused:
    areas must be mm² (:func:`alnpredictor.imaging.io.require_spacing`).

    :param mask: the lesion mask on the frame's grid, used as given.
    :param seeds_ras: seed point(s) inside the lesion (RAS mm), grown with 2-D grow-cut when no mask.
    :param background_ras: background seed points (placed automatically when None).
    :param line_ras: a caliper line (two end points, RAS mm) across the lesion's long axis: grown
        from it (:mod:`alnpredictor.imaging.prompted`) when no mask.
    :param box_ras: a box (two opposite corners, RAS mm) around the lesion, likewise.
    :param extractor: a deep-feature extractor to use instead of the one of ``settings`` (tests,
        batch tools); its provenance is recorded either way.
    """
    t0 = time.perf_counter()
    settings = settings or USSettings()
    if not isinstance(image, sitk.Image):
        raise InputError("run_case takes the frame as a SimpleITK image; read a file with read_frame (or load_case)")
    from alnpredictor.imaging.io import require_spacing

    frame = _as_frame(image, "the ultrasound image")
    require_spacing(frame, "the ultrasound frame")
    quality: dict[str, Any] = {}
    with library_threads(settings.threads):
        if mask is not None:
            used, source = _as_frame(mask, "the lesion mask"), "given"
        elif any(v is not None and len(v) for v in (seeds_ras, line_ras, box_ras)):
            used, quality["segmentation"] = segment_frame(frame, seeds_ras, background_ras, settings.threads,
                                                          line_ras=line_ras, box_ras=box_ras)
            source = "grow-cut"
        else:
            raise InputError("give the lesion mask, a caliper line or a box, or at least one seed point (R,A,S mm) "
                             "inside the lesion")
        ext = extractor if extractor is not None else extractor_for(settings)
        features = case_features(frame, used, settings, ext)
    params = radiomics_params(settings) if settings.radiomics else None
    provenance = {
        "deep": dict(ext.provenance),
        "radiomics_params": str(params) if params else None,
        "radiomics_params_sha256": _sha256(params) if params else None,
        "settings": as_record(settings),
    }
    return USCaseResult(features, used, source, quality, provenance, time.perf_counter() - t0)


_SHA: dict[tuple[str, float], str] = {}


def _sha256(path: Path) -> str:
    from alnpredictor.features.deep import file_sha256

    key = (str(path), path.stat().st_mtime)
    if key not in _SHA:
        _SHA[key] = file_sha256(path)
    return _SHA[key]


def read_case(case: Mapping[str, Any], settings: USSettings) -> dict[str, Any]:
    """Read a manifest case's files: the frame (``images['US']``) and the lesion mask
    (``masks['tumor']``) when there is one, else the seed points (``seeds['tumor']``, optional
    ``seeds['background']``). Returns the keyword arguments of :func:`run_case`."""
    from alnpredictor.imaging.io import read_mask

    path = (case.get("images") or {}).get(study.US)
    if not path:
        raise InputError(f"case {case.get('case_id')}: no ultrasound image (manifest column image_{study.US})")
    spacing = case.get("spacing_mm") if case.get("spacing_mm") is not None else settings.spacing_mm
    image = read_frame(path, spacing)
    mask_path = (case.get("masks") or {}).get(STRUCTURE)
    seeds = case.get("seeds") or {}
    if mask_path is None and not seeds.get(STRUCTURE):
        raise InputError(f"image '{path}': give a lesion mask or at least one seed point (R,A,S mm) inside the lesion")
    return {"image": image, "mask": read_mask(mask_path, reference=image) if mask_path is not None else None,
            "seeds_ras": seeds.get(STRUCTURE), "background_ras": seeds.get("background") or None}


def process_case(case: Mapping[str, Any], settings: USSettings) -> dict[str, Any]:
    """Cohort-runner entry point: one manifest case (dict) → JSON-ready record.

    ``mask_source`` is ``file`` or ``grow-cut``; grown masks are kept for review in
    ``settings.cache_dir/us-masks/<key>.nrrd`` (``<key>`` a hash of the case id). The untrained-backbone
    notice is given once by the caller (and recorded in the provenance), not per case."""
    with library_threads(settings.threads):
        inputs = read_case(case, settings)
        result = run_case(settings=settings, extractor=extractor_for(settings, quiet=True), **inputs)
        if result.mask_source == "grow-cut" and settings.cache_dir:
            from alnpredictor.cohort.manifest import case_key
            from alnpredictor.imaging.io import write_mask

            write_mask(result.mask, Path(settings.cache_dir) / "us-masks" / f"{case_key(str(case['case_id']))}.nrrd")
    return {
        "features": result.features,
        "clinical": dict(case.get("clinical") or {}),
        "mask_source": "file" if result.mask_source == "given" else result.mask_source,
        "quality": result.quality,
        "provenance": result.provenance,
        "seconds": round(result.seconds, 3),
    }


#: Bundle names inside a model folder written before one bundle held the whole model.
_LEGACY_BUNDLES = ("dlrn.alnmodel", "dlr-signature.alnmodel")


# --------------------------------------------------------------------------- does a model fit this case's inputs?
#: Key of the ultrasound inputs a model was trained on, in the model's ``details``.
DETAILS_KEY = "us_pathway"

_RADIOMICS_IMAGE_TYPES = ("original", "wavelet", "log-sigma", "square", "squareroot", "logarithm", "exponential",
                          "gradient", "lbp-2D", "lbp-3D")


def is_radiomics_feature(name: str) -> bool:
    """``US_{image type}_{class}_{feature}``: a PyRadiomics feature (vs. our own ``US_*`` features)."""
    if not name.startswith("US_"):
        return False
    head = name[3:].split("_", 1)[0]
    return any(head == t or head.startswith(t + "-") for t in _RADIOMICS_IMAGE_TYPES)


def trained_inputs(model) -> dict[str, Any]:
    """What the model's training features were computed with (see :func:`train_us_model`); ``{}``
    for a model trained elsewhere (e.g. ``alnpredictor train`` on an ultrasound table)."""
    return dict((model.spec.get("details") or {}).get(DETAILS_KEY) or {})


# --------------------------------------------------------------------------- checks before prediction
def check_deep_weights(model, deep: Mapping[str, Any]) -> None:
    """Refuse features from other ResNet50 weights or another network input size than the model was
    trained on. ``deep``: a deep-feature provenance (``USCaseResult.provenance['deep']``, an
    extractor's ``provenance``, or :func:`~alnpredictor.pathways.us.feature_provenance`)."""
    trained = trained_inputs(model)
    if not trained or not any(f.startswith("DL_") for f in model.features):
        return
    want, have = trained.get("weights_sha256"), deep.get("weights_sha256")
    if want != have:
        what = trained.get("deep_backbone") or "unknown weights"
        used = deep.get("weights") or deep.get("deep_backbone")
        raise ModelBundleError(
            f"model '{model.name}' was trained on deep features from {what} (SHA-256 {str(want)[:12]}…), but the "
            f"features would come from {used} (SHA-256 {str(have)[:12]}…); pass the same --weights file"
        )
    if trained.get("input_size") and deep.get("input_size") and int(trained["input_size"]) != int(deep["input_size"]):
        raise ModelBundleError(
            f"model '{model.name}' was trained on {trained['input_size']}-pixel network inputs, the features would "
            f"use {deep['input_size']}; set the input size to {trained['input_size']}"
        )


def check_settings(model, settings: USSettings) -> None:
    """Refuse to predict with ``settings`` that cannot give the model's features: other deep weights or
    input size (:func:`check_deep_weights`), PyRadiomics texture off, or another parameter file than
    the model's PyRadiomics features were computed with."""
    provenance = feature_provenance(settings)
    check_deep_weights(model, provenance)
    trained = trained_inputs(model)
    if not any(is_radiomics_feature(f) for f in model.features):
        return
    if not settings.radiomics:
        raise InputError(f"model '{model.name}' uses PyRadiomics texture features: turn PyRadiomics texture on")
    want, have = trained.get("radiomics_params_sha256"), provenance.get("radiomics_params_sha256")
    if want and want != have:
        raise InputError(
            f"model '{model.name}''s PyRadiomics features were computed with {trained.get('radiomics_params')} "
            f"(SHA-256 {want[:12]}…), not with {settings.params}; give that parameter file"
        )


def load_model(path: str | Path, settings: USSettings | None = None):
    """A model bundle for ultrasound features (refuses tampered, unknown-schema or MRI bundles).

    A folder written by earlier versions (``dlr-signature.alnmodel`` + ``dlrn.alnmodel``) loads its
    DLRN bundle, which holds the signature's coefficients. With ``settings``, the model is also
    checked against them before any extraction (:func:`check_settings`:
    the same deep weights, network input size and PyRadiomics parameter file as at training)."""
    from alnpredictor.models import load_bundle

    path = Path(path)
    if path.is_dir() and not (path / "model.json").is_file():
        inner = next((path / b for b in _LEGACY_BUNDLES if (path / b / "model.json").is_file()), None)
        if inner is not None:
            log.info("%s is a folder of ultrasound bundles; loading %s", path, inner.name)
            path = inner
    model = load_bundle(path)
    foreign = [f for f in model.features if study.is_mri_feature(f)]
    if foreign:
        raise InputError(f"model '{model.name}' ({path}) was trained on MRI features (e.g. {foreign[0]}), not on "
                         "ultrasound features (US_*, DL_*); choose an ultrasound model, or the MRI pathway")
    if settings is not None:

        check_settings(model, settings)
    return model


def predict(model: Any, features: Mapping[str, float], clinical: Mapping[str, Any] | None = None):
    """Clinical values checked against the model's fields (every problem at once), then the
    probability, class at the model's cut-off and points per predictor (the DLR signature's score
    and each clinical predictor) — a ``Prediction``, as :func:`alnpredictor.pathways.mri.predict`."""
    from alnpredictor.models.clinical import predict_checked

    return predict_checked(model, features, clinical,
                           produced_by="this frame (PyRadiomics texture on or off?)")
