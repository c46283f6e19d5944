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
``spacing_mm``       ultrasound: pixel spacing (mm) of a frame whose file has none (PNG/JPEG); empty:
                     the file's own (DICOM) or the run's ``--spacing-mm``
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

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from alnpredictor import study
from alnpredictor.errors import ClinicalDataError, InputError
from alnpredictor.models.clinical import check_clinical_record

_BASE = ("case_id", "site", "pathway", "label", "spacing_mm")


def _columns() -> dict[str, tuple[str, ...]]:
    """Manifest columns from the study vocabulary (a newly registered sequence adds its own)."""
    sequences, rois = study.mri_sequences(), study.roi_codes()
    ref = study.reference_sequence()
    return {
        "images": tuple(f"image_{s}" for s in (*sequences, study.US)),
        "masks": tuple(f"mask_{s}" for s in study.structure_names())
        + tuple(f"mask_{r}_{s}" for r in rois for s in sequences if s != ref),
        # Per-ROI×sequence names of the reference masks, accepted as aliases of mask_<structure>.
        "aliases": tuple(f"mask_{r}_{ref}" for r in rois),
        "labels": tuple(f"label_{r}" for r in rois),
        "seeds": tuple(f"seeds_{s}" for s in study.structure_names()) + ("seeds_background",),
    }


def known_columns() -> frozenset[str]:
    """Every column a manifest may have (besides ``clin_*``)."""
    return frozenset(_BASE + study.CLINICAL_COLUMNS + tuple(c for cols in _columns().values() for c in cols))


_CASE_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


def case_key(case_id: str, salt: str = "") -> str:
    """File-name key of a case: a hash, so patient identifiers never appear in file names. The cohort
    runner passes its run folder's random ``salt`` (``run.json``), so that the names cannot be turned
    back into ids by hashing guessed ids."""
    return hashlib.sha256(f"{salt}{case_id}".encode()).hexdigest()[:20]


class ManifestError(InputError):
    """A manifest with one or more problems; ``problems`` lists them all."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        if len(problems) == 1:  # one line, as every other error of the tool
            super().__init__(f"manifest {path}: {problems[0]}; fix it and rerun")
            return
        shown = "\n  - ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        # The first line alone (what a log or a one-line error shows) already names the first problem.
        super().__init__(f"manifest {path} has {len(problems)} problems, the first: {problems[0]}; fix them and "
                         f"rerun:\n  - {shown}{more}")


@dataclass
class Case:
    """One validated manifest row, paths resolved."""

    case_id: str
    pathway: str
    site: str | None = None
    label: Any = None
    images: dict[str, str] = field(default_factory=dict)  # SEQ -> path
    masks: dict[str, str] = field(default_factory=dict)  # structure ('tumor') or 'ROI_SEQ' ('T_T2') -> path
    seeds: dict[str, list[list[float]]] = field(default_factory=dict)  # structure -> RAS points
    clinical: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)  # ROI code -> label value in its masks
    spacing_mm: float | None = None  # ultrasound: pixel spacing for a frame whose file has none

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


def read_table(path: str | Path) -> pd.DataFrame:
    """A manifest CSV as text cells (header names and cells trimmed of surrounding spaces).

    Refuses, with a message naming the file and the line, what pandas would misread: another
    separator than ``,`` (``;`` from a European Excel, tabs), a row with more fields than the header
    (an unquoted comma inside a value), unnamed or repeated header names, text that is not UTF-8.
    A UTF-8 byte-order mark (Excel's "CSV UTF-8") is accepted. ``df.attrs["lines"]`` holds each row's
    line number in the file (blank lines are skipped)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"manifest not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"manifest {path} is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8") from exc
    except OSError as exc:
        raise InputError(f"manifest {path} could not be read ({exc.strerror or exc})") from exc
    header_line = text.splitlines()[0] if text.strip() else ""
    if "," not in header_line:
        for sep, name in ((";", "';' (semicolon)"), ("\t", "tabs"), ("|", "'|'")):
            if sep in header_line:
                raise InputError(f"manifest {path} separates its columns with {name}, not commas; save it as "
                                 "comma-separated CSV (Excel: 'CSV UTF-8 (comma delimited)')")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader, [])]
        rows, lines, problems = [], [], []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank line
            if len(row) > len(header) and any(cell.strip() for cell in row[len(header):]):
                problems.append(f"line {reader.line_num} has {len(row)} fields but the header has {len(header)}: "
                                "quote values that contain commas (\"a,b\")")
                continue
            rows.append([cell.strip() for cell in row[: len(header)]] + [""] * (len(header) - len(row)))
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise InputError(f"manifest {path} is not a readable CSV (line {reader.line_num}: {exc}); save it as "
                         "comma-separated UTF-8") from exc
    unnamed = [i + 1 for i, h in enumerate(header) if not h]
    if unnamed:
        problems.insert(0, f"column(s) {unnamed} of the header have no name")
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        problems.insert(0, f"column(s) {repeated} appear more than once in the header")
    if problems:
        raise ManifestError(path, problems)
    df = pd.DataFrame(rows, columns=header, dtype=str)
    df.attrs["lines"] = lines
    return df


def load_manifest(path: str | Path, *, check_files: bool = True, strict: bool = False) -> Manifest:
    """Read and validate a manifest.

    Case ids are trimmed before anything else, so ``P1`` and `` P1`` are one id (a duplicate) and
    never share a shard. Raises :class:`ManifestError` listing every structural problem (and, with
    ``strict``, every missing file too); otherwise missing files are returned in
    ``Manifest.case_problems``.
    """
    path = Path(path)
    df = read_table(path)
    base = path.parent
    problems: list[str] = []
    case_problems: dict[str, list[str]] = {}
    if "case_id" not in df.columns:
        raise ManifestError(path, ["no 'case_id' column (one row per case, a unique id in 'case_id')"])
    cols = _columns()
    unknown = [c for c in df.columns if c not in known_columns() and not study.is_clinical_column(c)]
    if unknown:
        problems.append(
            f"unknown column(s) {unknown}: use the documented names (see README, 'Cohort manifest'); "
            "prefix extra clinical variables with 'clin_'"
        )
    line_of = df.attrs.get("lines") or list(range(2, len(df) + 2))
    seen: dict[str, list[int]] = {}
    for i, cid in enumerate(df["case_id"]):  # cells are trimmed: ' P1' is P1
        if cid:
            seen.setdefault(cid, []).append(line_of[i])
    dup = {cid: lines for cid, lines in seen.items() if len(lines) > 1}
    if dup:
        problems.append("duplicate case_id(s) (spaces around ids do not count): " + "; ".join(
            f"'{cid}' on lines {', '.join(map(str, lines))}" for cid, lines in dup.items())
            + " — give every case its own id")
    cases: list[Case] = []
    for i, (_, row) in enumerate(df.iterrows()):
        line = line_of[i]
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
        if "spacing_mm" in df.columns and not _empty(row["spacing_mm"]):
            try:
                case.spacing_mm = float(row["spacing_mm"])
            except ValueError:
                case.spacing_mm = float("nan")
            if not (case.spacing_mm > 0 and case.spacing_mm < 1e3):
                problems.append(f"{where}: spacing_mm '{row['spacing_mm']}' is not a positive number of mm")
        sequences = study.mri_sequences() if pathway == "mri" else (study.US,)
        for seq in sequences:
            value = row.get(f"image_{seq}", "")
            if _empty(value):
                problems.append(f"{where}: missing image_{seq} (the {pathway.upper()} pathway needs it)")
                continue
            case.images[seq] = str((base / str(value).strip()).resolve()) if not Path(str(value)).is_absolute() else str(value)
        structures = study.PATHWAY_STRUCTURES[pathway]
        for col in cols["masks"] + cols["aliases"]:
            if col in df.columns and not _empty(row[col]):
                key = col[len("mask_"):]
                if col in cols["aliases"]:  # mask_T_T1C → tumor
                    key = study.structure_of_roi(key.split("_", 1)[0])
                value = str(row[col]).strip()
                case.masks[key] = str(value if Path(value).is_absolute() else (base / value).resolve())
        for col in cols["labels"]:
            if col in df.columns and not _empty(row[col]):
                try:
                    case.labels[col[len("label_"):]] = int(float(row[col]))
                except ValueError:
                    problems.append(f"{where}: {col} '{row[col]}' is not a label number")
        for col in cols["seeds"]:
            if col in df.columns and not _empty(row[col]):
                try:
                    case.seeds[col[len("seeds_"):]] = parse_points(row[col])
                except ValueError as exc:
                    problems.append(f"{where}: {col}: {exc}")
        for structure in structures:
            if structure not in case.masks and not case.seeds.get(structure):
                problems.append(f"{where}: no mask_{structure} and no seeds_{structure}: give one of them")
        for col in df.columns:
            if study.is_clinical_column(col) and not _empty(row[col]):
                case.clinical[col] = _number_or_text(row[col])
        try:  # the plausible ranges every front door applies (age -5, Ki-67 1e6, inf are typos)
            check_clinical_record(case.clinical)
        except ClinicalDataError as exc:
            problems.append(f"{where}: {exc}")
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
