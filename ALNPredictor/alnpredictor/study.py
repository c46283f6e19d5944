"""The studies' vocabulary — the one place where structures, sequences and clinical predictors are named.

Everything else (manifest columns, feature names, the Slicer panel's segments, the pathways, the
demo) reads these tables, so a new sequence or structure is added here and nowhere else
(README, "Extending").

* **Structures** — what the user segments: ``tumor`` (ROI code ``T``) and ``nodes`` (axillary lymph
  nodes, ``L``), with the label value they get in a label map and their display colour.
* **MRI sequences** — contrast T1 (``T1C``, the reference: ROIs are drawn there and every other
  sequence is registered to it), T2WI (``T2``) and the ADC map (``ADC``). A code never contains
  ``_``: feature names are ``{ROI}{SEQ}_{pyradiomics name}`` and are split at the first ``_``.
* **Ultrasound** — one frame, code ``US``; features ``US_{name}`` (handcrafted) and ``DL_{i}`` (deep).
* **Clinical predictors** of each study (manifest column names).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Structure:
    """A segmented structure: name (segment name, manifest ``mask_<name>``), ROI code, label value, colour."""

    name: str
    roi: str
    label: int
    color: tuple[float, float, float]
    description: str


@dataclass(frozen=True)
class Sequence:
    """An MRI sequence: code (feature names, manifest ``image_<code>``) and a description for users."""

    code: str
    description: str
    reference: bool = False


#: Structures of both studies (the ultrasound study segments only the tumor).
STRUCTURES: tuple[Structure, ...] = (
    Structure("tumor", "T", 1, (0.90, 0.20, 0.20), "primary breast tumor"),
    Structure("nodes", "L", 2, (0.20, 0.75, 0.30), "axillary lymph nodes"),
)
#: Structures each pathway needs.
PATHWAY_STRUCTURES: dict[str, tuple[str, ...]] = {"mri": ("tumor", "nodes"), "us": ("tumor",)}

_SEQUENCES: list[Sequence] = [
    Sequence("T1C", "contrast-enhanced T1 (reference)", reference=True),
    Sequence("T2", "T2-weighted"),
    Sequence("ADC", "apparent diffusion coefficient map"),
]
#: The ultrasound frame's sequence code.
US = "US"

#: Clinical predictors of the MRI study's multiomic signature (Yu et al. 2021).
MRI_CLINICAL: tuple[str, ...] = ("age", "clinical_T", "clinical_N", "ki67", "subtype")
#: Clinical predictors of the ultrasound study's nomogram (DLRN, Liu et al. 2024, Table 3).
US_CLINICAL: tuple[str, ...] = ("age", "birads", "nuclear_grade", "us_aln")
#: Every clinical column a manifest may carry (besides ``clin_*``).
CLINICAL_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(MRI_CLINICAL + US_CLINICAL))
#: Prefix of extra clinical columns in a manifest.
CLINICAL_PREFIX = "clin_"

_CODE = re.compile(r"^[A-Za-z0-9]+$")


def structure(name: str) -> Structure:
    """The structure called ``name`` (``tumor``/``nodes``); KeyError names the known ones."""
    for s in STRUCTURES:
        if s.name == name:
            return s
    raise KeyError(f"unknown structure {name!r}; known: {structure_names()}")


def structure_names() -> tuple[str, ...]:
    """``("tumor", "nodes")``."""
    return tuple(s.name for s in STRUCTURES)


def roi_code(name: str) -> str:
    """ROI code of a structure: ``roi_code("nodes") == "L"``."""
    return structure(name).roi


def roi_codes() -> tuple[str, ...]:
    """``("T", "L")``."""
    return tuple(s.roi for s in STRUCTURES)


def structure_of_roi(roi: str) -> str:
    """Structure name of an ROI code: ``structure_of_roi("T") == "tumor"``."""
    for s in STRUCTURES:
        if s.roi == roi:
            return s.name
    raise KeyError(f"unknown ROI code {roi!r}; known: {roi_codes()}")


def mri_sequences() -> tuple[str, ...]:
    """MRI sequence codes in study order, the reference first: ``("T1C", "T2", "ADC")``."""
    return tuple(s.code for s in _SEQUENCES)


def reference_sequence() -> str:
    """The sequence ROIs are drawn on and the others are registered to (``T1C``)."""
    return next(s.code for s in _SEQUENCES if s.reference)


def moving_sequences() -> tuple[str, ...]:
    """Sequences registered to the reference: ``("T2", "ADC")``."""
    return tuple(s.code for s in _SEQUENCES if not s.reference)


def sequence_description(code: str) -> str:
    """What the user is asked to load for ``code``."""
    for s in _SEQUENCES:
        if s.code == code:
            return s.description
    return US if code == US else code


def register_sequence(code: str, description: str) -> Sequence:
    """Add an MRI sequence (registered to the reference like T2/ADC) — the one step a new sequence needs.

    The code must be letters and digits only (no ``_``: feature names split there) and new.
    """
    if not _CODE.match(code):
        raise ValueError(f"sequence code {code!r} must be letters and digits only (feature names split at '_')")
    if code in mri_sequences() or code == US:
        raise ValueError(f"sequence {code!r} is already known")
    seq = Sequence(code, description)
    _SEQUENCES.append(seq)
    return seq


def unregister_sequence(code: str) -> None:
    """Remove a sequence added with :func:`register_sequence` (the study's own three stay)."""
    for s in list(_SEQUENCES):
        if s.code == code and not s.reference and code not in ("T2", "ADC"):
            _SEQUENCES.remove(s)
            return
    raise ValueError(f"sequence {code!r} was not registered with register_sequence")


@contextmanager
def extra_sequence(code: str, description: str) -> Iterator[Sequence]:
    """A sequence registered for the duration of a ``with`` block (tests, experiments)."""
    seq = register_sequence(code, description)
    try:
        yield seq
    finally:
        unregister_sequence(code)


def feature_name(roi: str, seq: str, name: str) -> str:
    """Column name of an MRI radiomic feature: ``feature_name("T", "T1C", "original_firstorder_Mean")``."""
    return f"{roi}{seq}_{name}"


def block_name(roi: str, seq: str) -> str:
    """Name of an ROI×sequence block (``TT1C``), the prefix of its features."""
    return f"{roi}{seq}"


def split_feature_name(column: str, sequences: tuple[str, ...] | None = None) -> tuple[str, str, str] | None:
    """``"LADC_original_shape_Sphericity"`` → ``("L", "ADC", "original_shape_Sphericity")``; None when
    the column is not an MRI radiomic feature of a known ROI and sequence."""
    block, sep, name = column.partition("_")
    if not sep or not name:
        return None
    for roi in roi_codes():
        if block.startswith(roi) and block[len(roi):] in (sequences or mri_sequences()):
            return roi, block[len(roi):], name
    return None


def is_mri_feature(column: str) -> bool:
    """Whether a table column is an MRI radiomic feature (``{ROI}{SEQ}_...``)."""
    return split_feature_name(column) is not None


def is_us_feature(column: str) -> bool:
    """Whether a table column is an ultrasound feature (``US_*`` handcrafted or ``DL_<i>`` deep)."""
    return column.startswith("US_") or bool(re.match(r"^DL_\d+$", column))


def is_clinical_column(column: str) -> bool:
    """Whether a manifest/table column holds a clinical variable."""
    return column in CLINICAL_COLUMNS or column.startswith(CLINICAL_PREFIX)
