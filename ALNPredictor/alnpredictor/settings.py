"""Typed, immutable settings of the pathways — one definition of every default.

Each front door (CLI, Slicer Logic, cohort runner, demo) builds one of these and passes it down;
``run.json`` and provenance are written from :func:`as_record`, and a resumed cohort run compares
them. Frozen dataclasses pickle, so the same object travels to worker processes and Dask workers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from alnpredictor import study
from alnpredictor.errors import InputError

#: The MRI study's PyRadiomics parameter file (original + wavelet, Yu et al. 2021).
MRI_PARAMS = "mri-yu2021"
#: The ultrasound study's 2-D texture parameter file (Liu et al. 2024).
US_PARAMS = "us-liu2024"
ON_ROI_ERROR = ("raise", "nan")


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise InputError(message)


@dataclass(frozen=True)
class MRISettings:
    """How one MRI patient is processed (segmentation → propagation → N4 → PyRadiomics).

    :param params: PyRadiomics parameter file (shipped name or path).
    :param register: rigidly register each moving sequence to the reference before resampling
        the ROIs onto its grid (off: physical-space resampling only).
    :param n4: N4 bias-field correction before extraction (as the study did).
    :param n4_iterations: N4 fitting schedule (default: ``imaging.preprocess.N4Settings``).
    :param cache_dir: N4 cache folder (content-addressed; saves time, never changes values).
    :param extract_workers: processes for the ROI×sequence extractions of this patient.
    :param threads: library threads (ITK, BLAS) while this patient is processed. Registration and
        N4 differ in the last bits between thread counts, so every front door uses the same count
        and gets the same features.
    :param segmenter: the segmentation engine for seeds (``alnpredictor.imaging.segment.SEGMENTERS``).
    :param smoothing_mm: smoothing of grown segments.
    :param on_roi_error: ``raise`` (a bad ROI fails the case) or ``nan`` (a NaN block, recorded).
    :param allow_border: accept ROIs that touch the image border.
    :param diagnostics: ``fast`` or ``full`` (PyRadiomics' hashes of every whole volume).
    :param sequences: sequence codes, the reference first (default: the vocabulary's).
    :param structures: structures to extract (default: tumor and nodes).
    """

    params: str = MRI_PARAMS
    register: bool = True
    n4: bool = True
    n4_iterations: tuple[int, ...] | None = None
    cache_dir: str | None = None
    extract_workers: int = 1
    threads: int = 1
    segmenter: str = "grow-cut"
    smoothing_mm: float = 0.0
    on_roi_error: str = "raise"
    allow_border: bool = False
    diagnostics: str = "fast"
    sequences: tuple[str, ...] = field(default_factory=study.mri_sequences)
    structures: tuple[str, ...] = study.PATHWAY_STRUCTURES["mri"]

    def __post_init__(self) -> None:
        _check(self.on_roi_error in ON_ROI_ERROR, f"on_roi_error must be one of {ON_ROI_ERROR} (got {self.on_roi_error!r})")
        _check(self.diagnostics in ("fast", "full"), f"diagnostics must be fast or full (got {self.diagnostics!r})")
        _check(isinstance(self.extract_workers, int) and self.extract_workers >= 1,
               f"extract_workers must be a whole number ≥ 1 (got {self.extract_workers!r})")
        _check(isinstance(self.threads, int) and self.threads >= 1, f"threads must be ≥ 1 (got {self.threads!r})")
        _check(math.isfinite(self.smoothing_mm) and self.smoothing_mm >= 0,
               f"smoothing_mm must be a finite number ≥ 0 (got {self.smoothing_mm!r})")
        _check(bool(self.sequences) and self.sequences[0] == study.reference_sequence(),
               f"sequences must start with the reference {study.reference_sequence()} (got {self.sequences})")
        for s in self.structures:
            _check(s in study.structure_names(), f"unknown structure {s!r}; known: {study.structure_names()}")
        if self.n4_iterations is not None:
            object.__setattr__(self, "n4_iterations", tuple(int(i) for i in self.n4_iterations))
        object.__setattr__(self, "sequences", tuple(self.sequences))
        object.__setattr__(self, "structures", tuple(self.structures))

    @property
    def moving(self) -> tuple[str, ...]:
        """Sequences registered to the reference."""
        return self.sequences[1:]


@dataclass(frozen=True)
class USSettings:
    """How one ultrasound frame is processed (mask or grow-cut → handcrafted + ResNet50 features).

    :param params: PyRadiomics 2-D texture parameter file (shipped name or path).
    :param radiomics: include PyRadiomics 2-D texture among the handcrafted features.
    :param weights: ResNet50 weights: a file, ``imagenet`` (torchvision's ImageNet weights through
        torch's download-and-verify cache, ``$TORCH_HOME``), or None (an untrained backbone, flagged
        everywhere); a model refuses features from other weights than it was trained on.
    :param device: torch device (``auto``, ``cpu``, ``cuda``).
    :param input_size: network input size (pixels).
    :param torch_threads: torch CPU threads (fixed and recorded: CPU results differ between counts).
    :param spacing_mm: pixel spacing for frames whose file has none.
    :param cache_dir: where grown masks are kept for review (named by a hash of the case id).
    :param threads: ITK/BLAS threads while the case runs.
    :param allow_border: accept a lesion that touches the frame's edge (PyRadiomics texture).
    """

    params: str = US_PARAMS
    radiomics: bool = True
    weights: str | None = None
    device: str = "auto"
    input_size: int = 224
    torch_threads: int | None = None
    spacing_mm: float | None = None
    cache_dir: str | None = None
    threads: int = 1
    allow_border: bool = False

    def __post_init__(self) -> None:
        _check(self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda (got {self.device!r})")
        _check(isinstance(self.input_size, int) and self.input_size >= 32,
               f"input_size must be a whole number ≥ 32 (got {self.input_size!r})")
        _check(self.spacing_mm is None or (math.isfinite(self.spacing_mm) and self.spacing_mm > 0),
               f"spacing_mm must be a positive number of millimetres (got {self.spacing_mm!r})")
        _check(isinstance(self.threads, int) and self.threads >= 1, f"threads must be ≥ 1 (got {self.threads!r})")
        _check(self.torch_threads is None or (isinstance(self.torch_threads, int) and self.torch_threads >= 1),
               f"torch_threads must be a whole number ≥ 1 or None (got {self.torch_threads!r})")
        # paths as text: the record (run.json, provenance) and the extractor cache key stay plain strings
        object.__setattr__(self, "params", str(self.params))
        for name in ("weights", "cache_dir"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, str(getattr(self, name)))


def as_record(settings: Any) -> dict[str, Any]:
    """JSON-ready dict of a settings object (``run.json``, provenance, resume fingerprints)."""
    record = asdict(settings)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in record.items()}


def with_changes(settings: Any, **changes: Any) -> Any:
    """A copy with some fields changed; unknown names are refused (typos never pass silently)."""
    known = {f.name for f in fields(settings)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise InputError(f"unknown setting(s) {unknown} for {type(settings).__name__}; known: {sorted(known)}")
    return replace(settings, **changes)
