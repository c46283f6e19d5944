"""Cohort manifests: one CSV row per case, validated as a whole before any work starts.

Columns (paths are relative to the manifest's folder unless absolute):

===================  ===========================================================================
``case_id``          required, unique; letters, digits, ``-``, ``_``, ``.`` only
``site``             optional centre/hospital name
``pathway``          ``mri`` (default) or ``us``
``label``            optional outcome (1 = metastasis, 0 = none; other codings via ``--positive``)
``image_T1C``        MRI: contrast T1 (reference sequence; ROIs live here)
``image_T2``         MRI: T2WI
``image_ADC``        MRI: ADC map
``image_US``         ultrasound: the 2-D image at the tumor's largest diameter
``mask_tumor``       mask of the tumor on the reference image (T1C or US)
``mask_nodes``       MRI: mask of the axillary nodes on T1C
``mask_{ROI}_{SEQ}`` optional explicit mask of ROI ``T``/``L`` on ``T2``/``ADC`` (skips propagation);
                     ``mask_T_T1C``/``mask_L_T1C`` are aliases of ``mask_tumor``/``mask_nodes``
``label_T``/``L``    label value of the ROI in its mask files when they hold several (default: any > 0)
``seeds_tumor``      seed points instead of a mask: ``"R,A,S"`` in RAS mm, several joined by ``;``
``seeds_nodes``      MRI: node seeds (one per node), same format
``seeds_background`` optional background seeds (placed automatically when empty)
clinical columns     ``age``, ``clinical_T``, ``clinical_N``, ``ki67``, ``subtype``, ``birads``,
                     ``nuclear_grade``, ``us_aln``, or any name starting with ``clin_``
===================  ===========================================================================

Each structure needs either a mask or seeds. Validation reports every problem at once.
Problems with the manifest itself (unknown columns, duplicate ids, malformed seeds, a pathway's
missing image column) stop the run before any work starts. A file that is missing on disk is a
problem of that case only: it is reported up front with all the others, and the runner records
the case in ``failures.csv`` and goes on with the rest (``strict=True`` refuses the manifest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from alnpredictor.errors import InputError

MRI_SEQUENCES = ("T1C", "T2", "ADC")
ROI_CODES = {"tumor": "T", "nodes": "L"}
CLINICAL_COLUMNS = ("age", "clinical_T", "clinical_N", "ki67", "subtype", "birads", "nuclear_grade", "us_aln")
_BASE = ("case_id", "site", "pathway", "label")
_IMAGES = tuple(f"image_{s}" for s in (*MRI_SEQUENCES, "US"))
_MASKS = ("mask_tumor", "mask_nodes") + tuple(f"mask_{r}_{s}" for r in ("T", "L") for s in ("T2", "ADC"))
#: Per-ROI×sequence names of the T1C masks, accepted as aliases.
_MASK_ALIASES = {"mask_T_T1C": "tumor", "mask_L_T1C": "nodes"}
_LABELS = ("label_T", "label_L")
_SEEDS = ("seeds_tumor", "seeds_nodes", "seeds_background")
KNOWN_COLUMNS = frozenset(_BASE + _IMAGES + _MASKS + tuple(_MASK_ALIASES) + _LABELS + _SEEDS + CLINICAL_COLUMNS)
_CASE_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


class ManifestError(InputError):
    """A manifest with one or more problems; ``problems`` lists them all."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n  - ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"manifest {path} has {len(problems)} problem(s); fix them and rerun:\n  - {shown}{more}")


@dataclass
class Case:
    """One validated manifest row, paths resolved."""

    case_id: str
    pathway: str
    site: str | None = None
    label: Any = None
    images: dict[str, str] = field(default_factory=dict)  # SEQ -> path
    masks: dict[str, str] = field(default_factory=dict)  # 'tumor' | 'nodes' | 'T_T2' ... -> path
    seeds: dict[str, list[list[float]]] = field(default_factory=dict)  # structure -> RAS points
    clinical: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)  # ROI code -> label value in its masks

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (sent to worker processes / Dask workers)."""
        return self.__dict__.copy()


def parse_points(text: str) -> list[list[float]]:
    """``"R,A,S;R,A,S"`` → [[R, A, S], ...]; raises ValueError with the offending part."""
    points = []
    for part in str(text).split(";"):
        part = part.strip()
        if not part:
            continue
        values = [v.strip() for v in part.split(",")]
        if len(values) != 3:
            raise ValueError(f"'{part}' is not R,A,S (three numbers separated by commas)")
        points.append([float(v) for v in values])
    return points


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or str(value).strip() == ""


@dataclass
class Manifest:
    """Validated cases, plus per-case problems (missing files) that make those cases fail."""

    path: Path
    cases: list[Case]
    case_problems: dict[str, list[str]] = field(default_factory=dict)

    def runnable(self) -> list[Case]:
        """Cases without per-case problems."""
        return [c for c in self.cases if c.case_id not in self.case_problems]


def load_manifest(path: str | Path, *, check_files: bool = True, strict: bool = False) -> Manifest:
    """Read and validate a manifest.

    Raises :class:`ManifestError` listing every structural problem (and, with ``strict``, every
    missing file too); otherwise missing files are returned in ``Manifest.case_problems``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"manifest not found: {path}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises many types for malformed CSV
        raise InputError(f"manifest {path} is not a readable CSV ({exc}); save it as comma-separated UTF-8") from exc
    base = path.parent
    problems: list[str] = []
    case_problems: dict[str, list[str]] = {}
    if "case_id" not in df.columns:
        raise ManifestError(path, ["no 'case_id' column (one row per case, a unique id in 'case_id')"])
    unknown = [c for c in df.columns if c not in KNOWN_COLUMNS and not c.startswith("clin_")]
    if unknown:
        problems.append(
            f"unknown column(s) {unknown}: use the documented names (see README, 'Cohort manifest'); "
            "prefix extra clinical variables with 'clin_'"
        )
    dup = df["case_id"][df["case_id"].duplicated()].unique().tolist()
    if dup:
        problems.append(f"duplicate case_id(s): {dup}")
    cases: list[Case] = []
    for i, row in df.iterrows():
        line = i + 2  # header is line 1
        cid = str(row["case_id"]).strip()
        where = f"line {line} (case {cid or '?'})"
        if not cid or not _CASE_ID.match(cid):
            problems.append(f"{where}: case_id must be non-empty letters/digits/-_. (got '{cid}')")
        pathway = (str(row.get("pathway", "")).strip().lower() or "mri")
        if pathway not in ("mri", "us"):
            problems.append(f"{where}: pathway must be 'mri' or 'us' (got '{pathway}')")
            continue
        case = Case(case_id=cid, pathway=pathway, site=(str(row.get("site", "")).strip() or None))
        if "label" in df.columns and not _empty(row["label"]):
            case.label = str(row["label"]).strip()
        sequences = MRI_SEQUENCES if pathway == "mri" else ("US",)
        for seq in sequences:
            value = row.get(f"image_{seq}", "")
            if _empty(value):
                problems.append(f"{where}: missing image_{seq} (the {pathway.upper()} pathway needs it)")
                continue
            case.images[seq] = str((base / str(value).strip()).resolve()) if not Path(str(value)).is_absolute() else str(value)
        structures = ("tumor", "nodes") if pathway == "mri" else ("tumor",)
        for col in _MASKS + tuple(_MASK_ALIASES):
            if col in df.columns and not _empty(row[col]):
                key = _MASK_ALIASES[col][:] if col in _MASK_ALIASES else col[len("mask_"):]
                value = str(row[col]).strip()
                case.masks[key] = str(value if Path(value).is_absolute() else (base / value).resolve())
        for col in _LABELS:
            if col in df.columns and not _empty(row[col]):
                try:
                    case.labels[col[-1]] = int(float(row[col]))
                except ValueError:
                    problems.append(f"{where}: {col} '{row[col]}' is not a label number")
        for col in _SEEDS:
            if col in df.columns and not _empty(row[col]):
                try:
                    case.seeds[col[len("seeds_"):]] = parse_points(row[col])
                except ValueError as exc:
                    problems.append(f"{where}: {col}: {exc}")
        for structure in structures:
            if structure not in case.masks and not case.seeds.get(structure):
                problems.append(f"{where}: no mask_{structure} and no seeds_{structure}: give one of them")
        for col in df.columns:
            if (col in CLINICAL_COLUMNS or col.startswith("clin_")) and not _empty(row[col]):
                case.clinical[col] = _number_or_text(row[col])
        if check_files:
            for kind, paths in (("image", case.images), ("mask", case.masks)):
                for key, p in paths.items():
                    if not Path(p).exists():
                        case_problems.setdefault(cid, []).append(f"{kind} file for {key} not found: {p}")
        cases.append(case)
    if strict:
        problems += [f"case {cid}: {msg}" for cid, msgs in case_problems.items() for msg in msgs]
    if problems:
        raise ManifestError(path, problems)
    if not cases:
        raise ManifestError(path, ["the manifest has no rows"])
    return Manifest(path=path, cases=cases, case_problems=case_problems)


def _number_or_text(value: Any) -> Any:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number
