"""Reading and writing images, masks and Slicer segmentations.

* :func:`read_volume` — one scalar volume from NRRD, NIfTI, MHA/MHD, a DICOM series (a folder
  with one series, or a chosen SeriesInstanceUID) or a 2-D ultrasound image (PNG, JPEG, BMP,
  TIFF, single-frame DICOM), which becomes a 3-D single-slice volume with its pixel spacing.
  Colour images (8-bit RGB/RGBA, as ultrasound machines export them) are converted to grey.
* :func:`read_mask` / :func:`write_mask` — binary uint8 masks, checked against a reference grid.
* :func:`read_segmentation` / :func:`write_segmentation` — Slicer's multi-segment ``.seg.nrrd``
  (segment names, colours, label values and layers in ``Segment{i}_*`` header keys), so that
  Slicer opens what we write and we read what Slicer writes.

All geometry stays in SimpleITK's LPS convention; nothing here converts to RAS.

**Pixel spacing of a 2-D (ultrasound) frame** — areas must be mm², never pixel counts:

* DICOM: PixelSpacing (0028,0030) when present; else the physical deltas of the first 2-D region
  of SequenceOfUltrasoundRegions (0018,6011) whose units are centimetres (PhysicalDeltaX/Y,
  (0018,602C)/(0018,602E), converted to mm) — :func:`ultrasound_region_spacing`;
* PNG, JPEG, BMP, TIFF: none in the file — the caller gives one (``spacing_mm``, ``--spacing-mm``,
  the manifest's ``spacing_mm`` column); a spacing given explicitly always wins.

Where the spacing came from is recorded on the image (:func:`spacing_source`: ``file``,
``DICOM PixelSpacing``, ``DICOM ultrasound regions``, ``given``, or :data:`NO_SPACING`); feature
extraction refuses a frame whose spacing is :data:`NO_SPACING` (:func:`require_spacing`).

**Geometry of a 2-D frame**: origin 0, identity direction, spacing ``s`` (column spacing ``sx``,
row spacing ``sy``) — pixel (column i, row j) is at LPS ``(i·sx, j·sy, 0)``, i.e. RAS
``(−i·sx, −j·sy, 0)``; RAS is what prompts (clicks, caliper lines, boxes) are given in. The frame is
read as a single-slice volume (slice spacing 1 mm).

**What every reader refuses** (named errors, never a silently wrong image):

* a header that points outside its own folder: an NRRD/NHDR ``data file`` or a MetaImage
  ``ElementDataFile`` (single file, ``LIST`` or ``%d`` pattern) that resolves (links followed)
  outside the header's folder — :class:`UnsafeHeaderError`; the header text is parsed here
  before ITK opens anything;
* impossible geometry (:func:`check_geometry`, :class:`GeometryError`): a non-finite origin
  (also a ``nan`` written in an NRRD/MetaImage header, which ITK reads as 0), a spacing that is
  not finite or outside :data:`MIN_SPACING_MM` … :data:`MAX_SPACING_MM`, a direction matrix
  that is not orthonormal (sheared or scaled axes);
* a DICOM series with a missing, duplicated or unreadable (truncated) slice: slice positions
  along the slice normal must be evenly spaced, and no file of the series may have been
  skipped (ITK only warns and stretches the spacing) — :class:`DicomSeriesError`;
* NaN or infinite voxels anywhere in the image (:func:`check_voxels`,
  :class:`VoxelValueError`): PyRadiomics silently drops NaN from first-order statistics and
  fails obscurely on infinity; filters and N4 spread them.

A constant image is read (it is a valid file) but refused where it cannot be used: by the
segmenters and by feature extraction (:func:`check_not_constant`, :class:`ConstantImageError`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from alnpredictor.errors import GeometryError, InputError, MaskError

log = logging.getLogger(__name__)

#: File endings read as 2-D images (ultrasound exports).
PLAIN_2D_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Tolerances for "same grid": spacing/origin in mm, direction cosines.
GEOMETRY_ATOL_MM = 1e-3
DIRECTION_ATOL = 1e-4
#: Luminance weights (ITU-R BT.601) for colour → grey.
_LUMA = (0.299, 0.587, 0.114)

#: Default colours of known segments (RGB 0..1), matching the Slicer module.
SEGMENT_COLORS = {"tumor": (0.90, 0.20, 0.20), "nodes": (0.20, 0.75, 0.30)}


class ImageDimensionError(InputError):
    """An image is 4-D, multi-component or otherwise not the scalar 2-D/3-D image needed."""


class UnsafeHeaderError(InputError):
    """An image header names a data file outside its own folder (or one that cannot be checked)."""


class DicomSeriesError(InputError):
    """A DICOM series with missing, duplicated or unreadable slices."""


class VoxelValueError(InputError):
    """An image holds NaN or infinite voxels."""


class ConstantImageError(InputError):
    """Every voxel of an image has the same value: nothing to segment, texture undefined."""


#: Plausible voxel spacing (mm) of any medical image: below a micrometre or above 10 cm is a
#: header error (a unit mix-up, a corrupt field), never a real scan.
MIN_SPACING_MM = 1e-3
MAX_SPACING_MM = 100.0
#: Largest |DᵀD − I| entry accepted as an orthonormal direction matrix (DICOM cosines carry ~6 digits).
ORTHONORMAL_ATOL = 1e-3
#: Largest deviation of one slice gap from the series' median gap, as a fraction of that median.
SLICE_GAP_RTOL = 0.1


def _describe(path: str | Path) -> str:
    return f"'{path}'"


# --------------------------------------------------------------------------------------------
# volumes
# --------------------------------------------------------------------------------------------
def read_volume(
    path: str | Path,
    series_uid: str | None = None,
    *,
    spacing_mm: float | tuple[float, float] | None = None,
) -> sitk.Image:
    """Read one scalar 3-D volume (LPS geometry).

    :param path: an image file (``.nrrd``, ``.nii``/``.nii.gz``, ``.mha``/``.mhd``, ``.dcm``,
        ``.png``/``.jpg`` ...) or a folder holding DICOM files.
    :param series_uid: the SeriesInstanceUID to load when the folder holds several series.
    :param spacing_mm: in-plane pixel spacing to set on a 2-D image whose file carries none
        (PNG/JPEG exports often do not); a number or (column, row) spacing.
    :returns: a 3-D scalar image; a 2-D image becomes a single-slice volume (slice spacing 1).
    :raises InputError: missing, unreadable or corrupt file; empty folder; several series
        without a choice; unknown series UID.
    :raises ImageDimensionError: a 4-D or multi-component (non-colour) image.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"image {_describe(p)} does not exist: check the path")
    if spacing_mm is not None:
        _check_spacing(spacing_mm, p)
    if p.is_dir():
        image, files = _read_dicom_folder(p, series_uid)
        source = "file"
        if _is_2d(image) and len(files) == 1:
            source, spacing_mm = _frame_spacing(image, Path(files[0]), spacing_mm)
    else:
        if series_uid is not None:
            log.debug("series_uid ignored for a single file %s", p.name)
        image = _read_file(p)
        source = "file"
        if _is_2d(image):
            source, spacing_mm = _frame_spacing(image, p, spacing_mm)
    volume = _as_scalar_volume(image, p, spacing_mm=spacing_mm)
    if _is_2d(image) and p.suffix.lower() in PLAIN_2D_SUFFIXES:
        # the documented 2-D geometry of a file that carries none: origin 0, identity direction
        volume.SetOrigin((0.0, 0.0, 0.0))
        volume.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    volume.SetMetaData(SPACING_KEY, source)
    check_geometry(volume, f"image {_describe(p)}")
    check_voxels(volume, f"image {_describe(p)}")
    return volume


#: Metadata key on images read by :func:`read_volume`: where the in-plane spacing came from.
SPACING_KEY = "ALNPredictor_spacing_source"
#: :func:`spacing_source` of a frame read without any spacing (1 mm placeholders).
NO_SPACING = "none"


def _is_2d(image: sitk.Image) -> bool:
    return image.GetDimension() == 2 or (image.GetDimension() == 3 and image.GetSize()[2] == 1)


def _check_spacing(spacing_mm, p: Path) -> None:
    values = [spacing_mm] if np.isscalar(spacing_mm) else list(spacing_mm)
    try:
        ok = len(values) in (1, 2) and all(MIN_SPACING_MM <= float(v) <= MAX_SPACING_MM for v in values)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"pixel spacing for {_describe(p)} must be a positive number of mm, between "
                         f"{MIN_SPACING_MM:g} and {MAX_SPACING_MM:g} (got {spacing_mm!r})")


def _frame_spacing(image: sitk.Image, p: Path, given) -> tuple[str, object]:
    """(source, spacing to set) of a 2-D frame: given > DICOM PixelSpacing > US regions > none."""
    if given is not None:
        return "given", given
    if p.suffix.lower() in PLAIN_2D_SUFFIXES:
        return NO_SPACING, None
    if image.HasMetaDataKey("0028|0030"):
        return "DICOM PixelSpacing", None
    if image.HasMetaDataKey("0008|0016") or p.suffix.lower() in (".dcm", ".dicom", ""):
        try:
            regions = ultrasound_region_spacing(p)
        except (OSError, ValueError) as exc:
            log.debug("no ultrasound regions read from %s: %s", p.name, exc)
            regions = None
        if regions is not None:
            return "DICOM ultrasound regions", regions
        return NO_SPACING, None
    return "file", None


def spacing_source(image: sitk.Image) -> str | None:
    """Where the image's in-plane spacing came from (:func:`read_volume`), or None if unknown."""
    return image.GetMetaData(SPACING_KEY) if image.HasMetaDataKey(SPACING_KEY) else None


def require_spacing(image: sitk.Image, what: str = "the frame") -> None:
    """Refuse a frame read without a pixel spacing (feature extraction needs mm, not pixels)."""
    if spacing_source(image) == NO_SPACING:
        raise InputError(
            f"{what} has no pixel spacing (PNG/JPEG exports and some DICOM files carry none): areas would be "
            "pixel counts, not mm². Give the spacing: --spacing-mm MM on the command line, a spacing_mm column "
            "in the manifest, or the spacing in the Slicer panel (the machine's depth scale: mm per pixel)"
        )


def ultrasound_region_spacing(path: str | Path) -> tuple[float, float] | None:
    """(column mm, row mm) from the first 2-D region of SequenceOfUltrasoundRegions (0018,6011)
    whose physical units are centimetres, or None when the file has no such region.

    Reads the DICOM header only (Part 10 file; explicit or implicit VR little endian, also in
    front of compressed pixel data); the pixel data is never read."""
    import struct

    data = Path(path).read_bytes()
    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    pos, explicit = 132, True
    # group 0002 is always explicit VR little endian
    meta, pos = _dicom_elements(data, pos, len(data), True, stop_group=0x0002)
    syntax = meta.get((0x0002, 0x0010), b"").rstrip(b"\0 ").decode("ascii", "replace")
    if syntax == "1.2.840.10008.1.2":
        explicit = False
    elif syntax == "1.2.840.10008.1.2.2":
        return None  # big endian (retired): not read
    elif syntax == "1.2.840.10008.1.2.1.99":
        import zlib

        data = data[:pos] + zlib.decompress(data[pos:], -15)
    elements, _ = _dicom_elements(data, pos, len(data), explicit, stop_tag=(0x0018, 0x6012))
    regions = elements.get((0x0018, 0x6011))
    if not isinstance(regions, list):
        return None
    for item in regions:
        def number(tag, fmt, size, item=item):
            raw = item.get(tag)
            return struct.unpack(fmt, raw[:size])[0] if isinstance(raw, bytes) and len(raw) >= size else None

        spatial = number((0x0018, 0x6012), "<H", 2)
        ux, uy = number((0x0018, 0x6024), "<H", 2), number((0x0018, 0x6026), "<H", 2)
        dx, dy = number((0x0018, 0x602C), "<d", 8), number((0x0018, 0x602E), "<d", 8)
        if spatial not in (None, 1) or ux != 3 or uy != 3 or not dx or not dy:
            continue  # not a 2-D tissue region in cm
        return abs(dx) * 10.0, abs(dy) * 10.0
    return None


_LONG_VR = {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"OD", b"OL", b"UC", b"UR", b"OV", b"SV", b"UV"}


def _dicom_elements(data: bytes, pos: int, end: int, explicit: bool, *, stop_group: int | None = None,
                    stop_tag: tuple[int, int] | None = None):
    """Elements of a DICOM data set from ``pos``: {(group, element): bytes, or a list of item
    dicts for a sequence}; stops at the end, at a group past ``stop_group``, after ``stop_tag``'s
    group-element order, or at the pixel data. Returns (elements, position reached)."""
    import struct

    out: dict = {}
    while pos + 8 <= end:
        group, elem = struct.unpack_from("<HH", data, pos)
        if (group, elem) == (0xFFFE, 0xE00D) or (group, elem) == (0xFFFE, 0xE0DD):
            return out, pos + 8
        if stop_group is not None and group != stop_group:
            return out, pos
        if (group, elem) >= (0x7FE0, 0x0010):
            return out, pos
        if stop_tag is not None and (group, elem) > stop_tag and (group, elem) > (0x0018, 0x6011):
            return out, pos
        vr = data[pos + 4:pos + 6] if explicit else None
        if explicit and vr.isalpha() and vr.isupper():
            if vr in _LONG_VR:
                (length,) = struct.unpack_from("<I", data, pos + 8)
                pos += 12
            else:
                (length,) = struct.unpack_from("<H", data, pos + 6)
                pos += 8
        else:
            vr = None
            (length,) = struct.unpack_from("<I", data, pos + 4)
            pos += 8
        is_sequence = vr == b"SQ" or (vr is None and (length == 0xFFFFFFFF or (group, elem) == (0x0018, 0x6011)))
        if is_sequence:
            items, pos = _dicom_items(data, pos, end if length == 0xFFFFFFFF else pos + length, explicit,
                                      length == 0xFFFFFFFF)
            out[(group, elem)] = items
            continue
        if length == 0xFFFFFFFF:  # undefined-length non-sequence (encapsulated data): stop here
            return out, pos
        out[(group, elem)] = data[pos:pos + length]
        pos += length
    return out, pos


def _dicom_items(data: bytes, pos: int, end: int, explicit: bool, undefined: bool):
    import struct

    items = []
    while pos + 8 <= end:
        group, elem, length = struct.unpack_from("<HHI", data, pos)
        pos += 8
        if (group, elem) == (0xFFFE, 0xE0DD):
            break
        if (group, elem) != (0xFFFE, 0xE000):
            raise ValueError("malformed sequence")
        if length == 0xFFFFFFFF:
            item, pos = _dicom_elements(data, pos, end, explicit)
        else:
            item, _ = _dicom_elements(data, pos, pos + length, explicit)
            pos += length
        items.append(item)
    return items, pos


def _read_file(p: Path) -> sitk.Image:
    check_header(p)
    try:
        return sitk.ReadImage(str(p))
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown reason"
        raise InputError(
            f"cannot read image {_describe(p)} (unreadable, corrupt or of an unsupported format: "
            f"{first_line}). Re-export it as NRRD, NIfTI or DICOM."
        ) from exc


def list_dicom_series(folder: str | Path) -> dict[str, int]:
    """SeriesInstanceUID → number of files, for the DICOM series directly inside ``folder``."""
    folder = str(folder)
    uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder) or ()
    return {uid: len(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, uid)) for uid in uids}


def _read_dicom_folder(folder: Path, series_uid: str | None) -> tuple[sitk.Image, list[str]]:
    if not any(folder.iterdir()):
        raise InputError(f"folder {_describe(folder)} is empty: choose the folder that holds the DICOM files")
    series = list_dicom_series(folder)
    if not series:
        raise InputError(
            f"folder {_describe(folder)} holds no readable DICOM series: choose the folder with the "
            "DICOM files of one series (or give an image file)"
        )
    if series_uid is None:
        if len(series) > 1:
            listing = ", ".join(f"{uid} ({n} files)" for uid, n in series.items())
            raise InputError(
                f"folder {_describe(folder)} holds {len(series)} DICOM series: choose one with "
                f"--series-uid / series_uid. Series: {listing}"
            )
        series_uid = next(iter(series))
    elif series_uid not in series:
        raise InputError(
            f"series {series_uid} is not in folder {_describe(folder)}; it holds: {', '.join(series)}"
        )
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_uid)
    if len(files) == 1:
        return _read_file(Path(files[0])), files
    _check_series_files(folder, series_uid, files)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()  # per-slice positions, for the gap check
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise InputError(
            f"cannot read DICOM series {series_uid} in {_describe(folder)} (corrupt or incomplete "
            f"series: {str(exc).strip().splitlines()[-1]})"
        ) from exc
    _check_slice_positions(folder, series_uid, files, reader)
    return image, files


def _check_series_files(folder: Path, series_uid: str, files: list[str]) -> None:
    """Refuse a series of which GDCM skipped a file: a truncated or corrupt slice is left out of the
    series without a word, and ITK then stretches the remaining slices over the gap."""
    listed = {os.path.realpath(f) for f in files}
    candidates = []
    for entry in sorted(folder.iterdir()):
        if not entry.is_file() or entry.name.upper() == "DICOMDIR" or os.path.realpath(entry) in listed:
            continue
        try:
            with open(entry, "rb") as fh:
                head = fh.read(132)
        except OSError:
            continue  # unreadable for GDCM too: if it was a slice, the position check finds the gap
        if head[128:132] == b"DICM":  # other files (notes, thumbnails) are none of the series' business
            candidates.append(entry)
    if candidates:  # only now scan the folder again for the other series (a scan reads every header)
        for uid in list_dicom_series(folder):
            if uid != series_uid:
                listed.update(os.path.realpath(f) for f in sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid))
    skipped = []
    for entry in candidates:
        if os.path.realpath(entry) in listed:
            continue
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(entry))
        try:
            reader.ReadImageInformation()
            uid = reader.GetMetaData("0020|000e").strip("\0 ") if reader.HasMetaDataKey("0020|000e") else None
        except RuntimeError:
            uid = None  # not even its header can be read
        if uid in (None, series_uid):
            skipped.append(entry.name)
    if skipped:
        names = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        raise DicomSeriesError(
            f"DICOM series {series_uid} in {_describe(folder)}: {len(skipped)} file(s) could not be read "
            f"({names}): truncated or corrupt slices would be left out and the volume stretched over the gap. "
            "Copy the series again from the scanner/PACS (or remove files that do not belong to it)"
        )


def _check_slice_positions(folder: Path, series_uid: str, files: list[str], reader: sitk.ImageSeriesReader) -> None:
    """Slices evenly spaced along the slice normal, none missing or repeated (ITK only warns)."""
    n = len(files)

    def values(i: int, tag: str) -> list[float] | None:
        if not reader.HasMetaDataKey(i, tag):
            return None
        try:
            return [float(v) for v in reader.GetMetaData(i, tag).split("\\")]
        except ValueError:
            return None

    orientation = values(0, "0020|0037")
    positions = [values(i, "0020|0032") for i in range(n)]
    if n < 3 or orientation is None or len(orientation) != 6 or any(p is None or len(p) != 3 for p in positions):
        return  # nothing to compare (ITK's own geometry then stands)
    normal = np.cross(orientation[:3], orientation[3:])
    along = np.asarray(positions, float) @ normal
    gaps = np.diff(along)
    step = float(np.median(np.abs(gaps)))
    where = _describe(folder)
    if step <= 0 or np.any(np.abs(gaps) < SLICE_GAP_RTOL * step):
        dup = int(np.argmin(np.abs(gaps)))
        raise DicomSeriesError(
            f"DICOM series {series_uid} in {where}: two slices at the same position ({along[dup]:.3f} mm along "
            f"the slice normal: {Path(files[dup]).name}, {Path(files[dup + 1]).name}): a repeated or mixed series. "
            "Keep one acquisition per folder (or choose it with --series-uid)"
        )
    bad = np.flatnonzero(np.abs(np.abs(gaps) - step) > SLICE_GAP_RTOL * step)
    if bad.size:
        i = int(bad[0])
        expected = int(round(abs(along[-1] - along[0]) / step)) + 1
        raise DicomSeriesError(
            f"DICOM series {series_uid} in {where} is incomplete or unevenly spaced: {n} slices, but their "
            f"positions ({along.min():.2f} to {along.max():.2f} mm, {step:.3g} mm apart) imply {expected}; the gap "
            f"between {Path(files[i]).name} and {Path(files[i + 1]).name} is {abs(gaps[i]):.3g} mm. A missing or "
            "truncated slice would stretch the volume: copy the complete series again"
        )


def _as_scalar_volume(image: sitk.Image, source: Path | str, *, spacing_mm=None) -> sitk.Image:
    """Colour → grey, 2-D → single-slice 3-D; refuse 4-D and other vector images."""
    ncomp = image.GetNumberOfComponentsPerPixel()
    if ncomp > 1:
        if ncomp in (3, 4) and image.GetPixelID() == sitk.sitkVectorUInt8:
            image = to_grey(image)
        else:
            raise ImageDimensionError(
                f"image {_describe(source)} has {ncomp} components per voxel; a scalar image is "
                "needed (for DWI load the ADC map, for a 4-D series pick one volume)"
            )
    dim = image.GetDimension()
    if dim == 4:
        raise ImageDimensionError(
            f"image {_describe(source)} is 4-D (size {image.GetSize()}); a 3-D volume is needed: "
            "extract one time point / b-value (e.g. the ADC map) first"
        )
    if dim == 2:
        if spacing_mm is not None:
            sp = (spacing_mm, spacing_mm) if np.isscalar(spacing_mm) else tuple(spacing_mm)
            image.SetSpacing([float(s) for s in sp])
        image = sitk.JoinSeries(image)
    elif dim == 3 and spacing_mm is not None and image.GetSize()[2] == 1:
        sp = (spacing_mm, spacing_mm) if np.isscalar(spacing_mm) else tuple(spacing_mm)
        image.SetSpacing([float(sp[0]), float(sp[1]), image.GetSpacing()[2]])
    elif dim != 3:
        raise ImageDimensionError(f"image {_describe(source)} is {dim}-D; a 2-D or 3-D image is needed")
    if image.GetPixelID() in (sitk.sitkComplexFloat32, sitk.sitkComplexFloat64):
        raise ImageDimensionError(f"image {_describe(source)} is complex-valued: export the magnitude image")
    return image


def to_grey(image: sitk.Image) -> sitk.Image:
    """Luminance (BT.601) of an RGB/RGBA image, as float32 with the same geometry."""
    comps = [sitk.Cast(sitk.VectorIndexSelectionCast(image, i), sitk.sitkFloat32) for i in range(3)]
    grey = comps[0] * _LUMA[0] + comps[1] * _LUMA[1] + comps[2] * _LUMA[2]
    grey.CopyInformation(comps[0])
    return grey


def ensure_3d_scalar(image: sitk.Image, name: str = "image") -> sitk.Image:
    """The same checks as :func:`read_volume` for an in-memory image (2-D → single slice),
    geometry included (:func:`check_geometry`); voxel values are checked by the callers that use
    them (:func:`check_voxels`)."""
    volume = _as_scalar_volume(image, name)
    check_geometry(volume, name)
    return volume


# --------------------------------------------------------------------------------------------
# sanity of geometry, voxels and headers
# --------------------------------------------------------------------------------------------
def check_geometry(image: sitk.Image, what: str = "image") -> None:
    """Refuse an impossible geometry: non-finite origin; spacing not finite or outside
    :data:`MIN_SPACING_MM` … :data:`MAX_SPACING_MM`; a direction matrix that is not orthonormal.

    :raises GeometryError: naming every problem and what to do.
    """
    dim = image.GetDimension()
    origin = np.asarray(image.GetOrigin(), float)
    spacing = np.asarray(image.GetSpacing(), float)
    direction = np.asarray(image.GetDirection(), float).reshape(dim, dim)
    problems = []
    if not np.all(np.isfinite(origin)):
        problems.append(f"origin {_fmt(origin)} is not a finite position")
    if not np.all(np.isfinite(spacing)) or np.any(spacing < MIN_SPACING_MM) or np.any(spacing > MAX_SPACING_MM):
        problems.append(f"spacing {_fmt(spacing)} mm is outside {MIN_SPACING_MM:g} to {MAX_SPACING_MM:g} mm "
                        "(a unit mix-up or a corrupt header)")
    if not np.all(np.isfinite(direction)):
        problems.append(f"direction {_fmt(direction.ravel())} is not finite")
    elif np.max(np.abs(direction.T @ direction - np.eye(dim))) > ORTHONORMAL_ATOL:
        problems.append(f"direction matrix {_fmt(direction.ravel())} is not orthonormal (sheared or scaled axes): "
                        "voxel positions, distances and shape features would be wrong")
    if problems:
        raise GeometryError(
            f"{what} has an impossible geometry: " + "; ".join(problems)
            + ". Re-export it from the scanner, PACS or Slicer with a correct header"
        )


def check_voxels(image: sitk.Image, what: str = "image", roi: np.ndarray | Callable[[], np.ndarray] | None = None) -> None:
    """Refuse NaN or infinite voxels (only floating-point images can hold them).

    :param roi: optional boolean array (numpy order) of the ROI, or a function that makes it (called
        only when there are bad voxels), to say how many are inside it.
    :raises VoxelValueError: with the counts and what to do.
    """
    if image.GetPixelIDValue() not in _FLOAT_PIXEL_IDS:
        return
    arr = sitk.GetArrayViewFromImage(image)
    bad = ~np.isfinite(arr)
    if not bad.any():
        return
    n_nan = int(np.count_nonzero(np.isnan(arr)))
    n_inf = int(np.count_nonzero(bad)) - n_nan
    parts = [f"{n} {kind} voxel(s)" for n, kind in ((n_nan, "NaN"), (n_inf, "infinite")) if n]
    inside = ""
    roi = roi() if callable(roi) else roi
    if roi is not None and roi.shape == bad.shape:
        inside = f", {int(np.count_nonzero(bad & roi))} of them inside the ROI"
    first = tuple(int(v) for v in np.argwhere(bad)[0][::-1])
    raise VoxelValueError(
        f"{what} has {' and '.join(parts)}{inside} (first at voxel index {first}): features would drop NaN "
        "silently and fail on infinity, and filters spread them. Replace them (e.g. with the background "
        "value) and export the image again"
    )


_FLOAT_PIXEL_IDS = {sitk.sitkFloat32, sitk.sitkFloat64, sitk.sitkVectorFloat32, sitk.sitkVectorFloat64}


def check_not_constant(image: sitk.Image, what: str = "image", use: str = "segment it") -> None:
    """Refuse an image whose voxels all have one value (nothing to segment; texture undefined)."""
    arr = sitk.GetArrayViewFromImage(image)
    if arr.size and arr.min() == arr.max():
        raise ConstantImageError(
            f"{what} is constant (every voxel is {arr.flat[0].item():g}): there is nothing to {use}. "
            "Check that the right image, series or volume was loaded (not a blank or mask volume)"
        )


#: Largest header read when looking for detached data files (headers are a few kB).
_HEADER_BYTES = 1 << 20
#: Most data files a header may list or generate.
_MAX_DATA_FILES = 100_000


def check_header(path: str | Path) -> None:
    """Parse an NRRD/NHDR or MetaImage (MHA/MHD) header before ITK opens it.

    Refuses (:class:`UnsafeHeaderError`) a ``data file`` / ``ElementDataFile`` — single, ``LIST``
    or a ``%d`` pattern — that resolves (links followed) outside the header's folder, and
    (:class:`GeometryError`) a ``nan``/``inf`` origin, direction or spacing, which ITK silently
    reads as 0 or 1. Other formats pass unchanged.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if p.name.lower().endswith((".nii", ".nii.gz")) and p.is_file():
        _check_nifti_sform(p)
        return
    if suffix not in (".nrrd", ".nhdr", ".mha", ".mhd") or not p.is_file():
        return
    with open(p, "rb") as fh:
        head = fh.read(_HEADER_BYTES)
    if head.startswith(b"NRRD"):
        fields, data_files = _nrrd_header(head, p)
        numeric = {"space origin": "space origin", "space directions": "space directions"}
    elif suffix in (".mha", ".mhd"):
        fields, data_files = _metaimage_header(head, p)
        numeric = {k: k for k in ("offset", "origin", "position", "elementspacing", "elementsize",
                                  "transformmatrix", "rotation", "orientation")}
    else:
        return  # not an NRRD header after all: ITK says so
    for key, label in numeric.items():
        text = fields.get(key)
        if text and re.search(r"(?i)\b(nan|inf|infinity)\b", text):
            raise GeometryError(
                f"image {_describe(p)}: header field '{label}' is '{text.strip()}', not finite numbers (ITK would "
                "silently read it as 0 or 1). Re-export the image with a correct header"
            )
    base = p.parent.resolve()
    for name in data_files:
        target = Path(name)  # as ITK takes it: relative to the header, no "~" expansion
        resolved = (target if target.is_absolute() else base / target).resolve()
        if not resolved.is_relative_to(base):
            raise UnsafeHeaderError(
                f"image header {_describe(p)} points to data file '{name}' outside its own folder "
                f"({resolved}): refused, a header may only use data files beside it. Keep the header and its "
                "data file together (or save the image as one file, e.g. .nrrd or .nii.gz)"
            )


def _check_nifti_sform(p: Path) -> None:
    """Refuse a NIfTI-1 file whose sform is sheared: ITK only warns and replaces it (by the qform
    or the nearest orthogonal matrix), moving every voxel."""
    import gzip
    import struct

    try:
        opener = gzip.open if p.name.lower().endswith(".gz") else open
        with opener(p, "rb") as fh:
            head = fh.read(348)
    except (OSError, EOFError):
        return  # ITK reports an unreadable file
    if len(head) < 348:
        return
    for endian in ("<", ">"):
        if struct.unpack_from(endian + "i", head, 0)[0] == 348:
            break
    else:
        return  # not NIfTI-1 (NIfTI-2 has doubles and other offsets; ITK's checks stand)
    sform_code = struct.unpack_from(endian + "h", head, 254)[0]
    if sform_code <= 0:
        return  # qform: a quaternion, always orthonormal
    rows = np.array([struct.unpack_from(endian + "4f", head, off) for off in (280, 296, 312)], float)
    affine = rows[:, :3]
    norms = np.linalg.norm(affine, axis=0)
    if not np.all(np.isfinite(affine)) or np.any(norms == 0):
        return  # check_geometry names it after the read
    direction = affine / norms
    if np.max(np.abs(direction.T @ direction - np.eye(3))) > ORTHONORMAL_ATOL:
        raise GeometryError(
            f"image {_describe(p)} has an impossible geometry: its NIfTI sform {_fmt(affine.ravel())} is sheared "
            "(not orthonormal); ITK would silently replace it (by the qform or the nearest orthogonal matrix) and "
            "move every voxel. "
            "Re-export it from the scanner, PACS or Slicer with a correct header"
        )


def _text_lines(head: bytes) -> list[str]:
    return head.decode("latin-1").replace("\r\n", "\n").split("\n")


#: A file-number conversion in a data file pattern (``%d``, ``%03d``, ``%i``): the only one ITK's readers fill in.
_NUMBER_FORMAT = re.compile(r"%0?\d*[di]")


def _data_file_names(value: str, rest: list[str], header: Path) -> list[str]:
    """File names a ``data file`` value stands for: one name, ``LIST`` (the following lines) or a
    ``format first last step [subdim]`` pattern with one ``%d``.

    Any other ``%`` conversion is refused: ITK's MetaImage reader hands the name to ``sprintf``
    with an integer (``%s`` crashes the process)."""
    value = value.strip()
    parts = value.split()
    if parts and parts[0].upper() == "LIST":
        return [ln.strip() for ln in rest if ln.strip()]
    if "%" not in value.replace("%%", ""):
        return [value]
    fmt, numbers = parts[0], parts[1:4]
    conversions = re.findall(r"%[^a-zA-Z%]*[a-zA-Z]?", fmt.replace("%%", ""))
    if (len(conversions) != 1 or not _NUMBER_FORMAT.fullmatch(conversions[0]) or len(numbers) < 3
            or not all(re.fullmatch(r"[+-]?\d+", v) for v in numbers)):
        raise UnsafeHeaderError(
            f"image header {_describe(header)}: data file '{value}' holds a format other than one %d file number "
            "(ITK would pass it to sprintf, which can crash): refused. Name the data file plainly, or as "
            "'name%03d.raw FIRST LAST STEP'"
        )
    lo, hi, step = (int(v) for v in numbers)
    if step == 0 or (hi - lo) * step < 0 or (hi - lo) // step + 1 > _MAX_DATA_FILES:
        raise UnsafeHeaderError(f"image header {_describe(header)}: data file pattern '{value}' is not a usable "
                                "file range (FIRST LAST STEP): fix the header")
    return [fmt % i for i in range(lo, hi + (1 if step > 0 else -1), step)]


def _nrrd_header(head: bytes, path: Path) -> tuple[dict[str, str], list[str]]:
    """(lower-case field → value, data file names) of an NRRD header (``key:=value`` pairs skipped)."""
    lines = _text_lines(head)
    fields: dict[str, str] = {}
    names: list[str] = []
    for i, line in enumerate(lines[1:], start=1):
        if not line.strip():
            break  # end of header (attached data follows)
        if line.startswith("#") or ":=" in line.split(": ", 1)[0] or ": " not in line:
            continue
        key, value = line.split(": ", 1)
        key = key.strip().lower()
        if key in ("data file", "datafile"):
            names = _data_file_names(value, lines[i + 1:], path)
            if value.split() and value.split()[0].upper() == "LIST":
                break  # the file names run to the end of the header
            continue
        fields[key] = value
    return fields, names


def _metaimage_header(head: bytes, path: Path) -> tuple[dict[str, str], list[str]]:
    """(lower-case field → value, data file names) of a MetaImage header; ``LOCAL`` has none.
    ``ElementDataFile`` is the header's last field (the data or the ``LIST`` of files follow it)."""
    lines = _text_lines(head)
    fields: dict[str, str] = {}
    for i, line in enumerate(lines):
        if "=" not in line:
            continue
        key, value = (x.strip() for x in line.split("=", 1))
        key = key.lower()
        if key == "elementdatafile":
            if value.upper() == "LOCAL":
                return fields, []
            return fields, _data_file_names(value, lines[i + 1:], path)
        fields[key] = value
    return fields, []


# --------------------------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------------------------
def geometry_differences(a: sitk.Image, b: sitk.Image) -> list[str]:
    """Human-readable differences of size/spacing/origin/direction ([] when on the same grid)."""
    diffs = []
    if a.GetDimension() != b.GetDimension():
        return [f"dimension {a.GetDimension()} vs {b.GetDimension()}"]
    if a.GetSize() != b.GetSize():
        diffs.append(f"size {a.GetSize()} vs {b.GetSize()}")
    if not np.allclose(a.GetSpacing(), b.GetSpacing(), atol=GEOMETRY_ATOL_MM):
        diffs.append(f"spacing {_fmt(a.GetSpacing())} vs {_fmt(b.GetSpacing())} mm")
    if not np.allclose(a.GetOrigin(), b.GetOrigin(), atol=GEOMETRY_ATOL_MM):
        diffs.append(f"origin {_fmt(a.GetOrigin())} vs {_fmt(b.GetOrigin())} mm (LPS)")
    if not np.allclose(a.GetDirection(), b.GetDirection(), atol=DIRECTION_ATOL):
        diffs.append(f"direction {_fmt(a.GetDirection())} vs {_fmt(b.GetDirection())}")
    return diffs


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def check_same_grid(image: sitk.Image, reference: sitk.Image, what: str = "mask", ref_name: str = "image") -> None:
    """Raise :class:`GeometryError` naming the differences when two images are not on one grid."""
    diffs = geometry_differences(image, reference)
    if diffs:
        raise GeometryError(
            f"{what} is not on the grid of {ref_name}: " + "; ".join(diffs)
            + ". Resample it onto the image first (alnpredictor propagate --no-register)."
        )


# --------------------------------------------------------------------------------------------
# masks
# --------------------------------------------------------------------------------------------
def as_binary_mask(mask: sitk.Image, *, label: int | None = None, name: str = "mask") -> sitk.Image:
    """uint8 0/1 mask from a label image: ``label`` selects one value, else any non-zero voxel.

    Raises :class:`MaskError` when the mask holds several label values and none was chosen.
    """
    arr = sitk.GetArrayViewFromImage(mask)
    if label is None:
        values = np.unique(arr)
        nonzero = values[values != 0]
        if len(nonzero) > 1:
            raise MaskError(
                f"{name} holds several labels {[v.item() for v in nonzero[:8]]}: choose one "
                "(label=..., --label) or save each structure as its own mask"
            )
        out = (arr != 0).astype(np.uint8)
    else:
        out = (arr == label).astype(np.uint8)
    result = sitk.GetImageFromArray(out)
    result.CopyInformation(mask)
    return result


def read_mask(
    path: str | Path,
    reference: sitk.Image | None = None,
    *,
    label: int | None = None,
    allow_empty: bool = False,
) -> sitk.Image:
    """Read a binary mask (any label-map file) as uint8 0/1 on its own grid.

    :param reference: when given, the mask must be on its grid (size, spacing, origin,
        direction); otherwise :class:`GeometryError` says what differs and what to do. A PNG/JPEG
        mask (no geometry in the file) of the reference's size takes the reference's geometry.
    :param label: the label value that is the structure (default: any non-zero voxel; a file
        with several values then needs ``label``).
    :param allow_empty: accept a mask without any voxel (default: :class:`MaskError`).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"mask {_describe(p)} does not exist: check the path")
    image = _read_file(p)
    if image.GetNumberOfComponentsPerPixel() > 1:
        raise ImageDimensionError(
            f"mask {_describe(p)} has {image.GetNumberOfComponentsPerPixel()} components (several "
            "segmentation layers?): read it with read_segmentation, or export one segment as a label map"
        )
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    elif image.GetDimension() != 3:
        raise ImageDimensionError(f"mask {_describe(p)} is {image.GetDimension()}-D; a 3-D mask is needed")
    check_voxels(image, f"mask {_describe(p)}")  # a NaN label would count as "inside"
    check_geometry(image, f"mask {_describe(p)}")
    mask = as_binary_mask(image, label=label, name=f"mask {_describe(p)}")
    if reference is not None and p.suffix.lower() in PLAIN_2D_SUFFIXES and mask.GetSize() == reference.GetSize():
        # a PNG/JPEG mask carries no geometry: it is on its frame's pixel grid
        mask.CopyInformation(reference)
    if reference is not None:
        check_same_grid(mask, reference, what=f"mask {_describe(p)}", ref_name="the reference image")
    if not allow_empty and not np.any(sitk.GetArrayViewFromImage(mask)):
        raise MaskError(f"mask {_describe(p)} is empty" + (f" for label {label}" if label is not None else "")
                        + ": draw or segment the structure first")
    return mask


def write_mask(mask: sitk.Image, path: str | Path) -> Path:
    """Write a mask as compressed uint8 0/1 (NRRD, NIfTI, MHA by the file ending)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    out = sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8)
    out.CopyInformation(mask)
    sitk.WriteImage(out, str(p), useCompression=True)
    return p


# --------------------------------------------------------------------------------------------
# Slicer .seg.nrrd
# --------------------------------------------------------------------------------------------
def write_segmentation(
    masks: Mapping[str, sitk.Image],
    path: str | Path,
    *,
    colors: Mapping[str, tuple[float, float, float]] | None = None,
) -> Path:
    """Write named binary masks (one grid) as a Slicer ``.seg.nrrd``.

    Segments that do not overlap share one layer (label values 1, 2, ...), as Slicer writes
    them; overlapping segments go to further layers (a 4-D ``list`` axis in the file).
    """
    if not masks:
        raise MaskError("no segments to write: give at least one mask")
    names = list(masks)
    first = masks[names[0]]
    arrays = {}
    for name in names:
        check_same_grid(masks[name], first, what=f"segment '{name}'", ref_name=f"segment '{names[0]}'")
        arrays[name] = sitk.GetArrayViewFromImage(masks[name]) != 0
    # Greedy layer assignment: a segment joins the first layer it does not overlap.
    layers: list[np.ndarray] = []
    placement: dict[str, tuple[int, int]] = {}
    for name in names:
        for li, layer in enumerate(layers):
            if not np.any(layer[arrays[name]]):
                value = int(layer.max()) + 1
                layer[arrays[name]] = value
                placement[name] = (li, value)
                break
        else:
            layer = np.zeros(arrays[name].shape, np.uint8)
            layer[arrays[name]] = 1
            layers.append(layer)
            placement[name] = (len(layers) - 1, 1)
    if len(layers) == 1:
        out = sitk.GetImageFromArray(layers[0])
    else:  # (z, y, x, layer): SimpleITK writes the component axis first, as Slicer's "list" axis
        out = sitk.GetImageFromArray(np.stack(layers, axis=-1), isVector=True)
    _copy_geometry(out, first)
    colors = {**SEGMENT_COLORS, **(colors or {})}
    out.SetMetaData("Segmentation_MasterRepresentation", "Binary labelmap")
    out.SetMetaData("Segmentation_ContainedRepresentationNames", "Binary labelmap|")
    out.SetMetaData("Segmentation_ReferenceImageExtentOffset", "0 0 0")
    for i, name in enumerate(names):
        layer, value = placement[name]
        color = colors.get(name) or _auto_color(i)
        out.SetMetaData(f"Segment{i}_ID", name)
        out.SetMetaData(f"Segment{i}_Name", name)
        out.SetMetaData(f"Segment{i}_NameAutoGenerated", "0")
        out.SetMetaData(f"Segment{i}_Color", " ".join(f"{c:.4g}" for c in color))
        out.SetMetaData(f"Segment{i}_ColorAutoGenerated", "0")
        out.SetMetaData(f"Segment{i}_Layer", str(layer))
        out.SetMetaData(f"Segment{i}_LabelValue", str(value))
        out.SetMetaData(f"Segment{i}_Extent", _extent_string(arrays[name]))
        out.SetMetaData(f"Segment{i}_Tags", "|")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if not str(p).lower().endswith(".seg.nrrd"):
        log.warning("segmentation file %s does not end in .seg.nrrd; Slicer may open it as a volume", p.name)
    sitk.WriteImage(out, str(p), useCompression=True)
    return p


def _copy_geometry(dst: sitk.Image, src: sitk.Image) -> None:
    dst.SetOrigin(src.GetOrigin())
    dst.SetSpacing(src.GetSpacing())
    dst.SetDirection(src.GetDirection())


def _extent_string(mask_zyx: np.ndarray) -> str:
    """Slicer's segment extent "i0 i1 j0 j1 k0 k1" (empty: "0 -1 0 -1 0 -1")."""
    if not np.any(mask_zyx):
        return "0 -1 0 -1 0 -1"
    idx = np.argwhere(mask_zyx)
    lo, hi = idx.min(0)[::-1], idx.max(0)[::-1]
    return " ".join(f"{int(a)} {int(b)}" for a, b in zip(lo, hi))


def _auto_color(i: int) -> tuple[float, float, float]:
    palette = [(0.9, 0.7, 0.2), (0.3, 0.5, 0.9), (0.8, 0.4, 0.8), (0.3, 0.8, 0.8)]
    return palette[i % len(palette)]


def read_segmentation(path: str | Path) -> dict[str, sitk.Image]:
    """Read a Slicer ``.seg.nrrd``: segment name → uint8 0/1 mask on the file's grid.

    Handles single-layer files (label value per segment), multi-layer files (4-D, one layer
    per group of non-overlapping segments) and old files without label values (one layer per
    segment, value 1). A plain label map (no ``Segment*`` keys) gives one segment per value,
    named ``label_<value>``.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"segmentation {_describe(p)} does not exist: check the path")
    image = _read_file(p)
    keys = set(image.GetMetaDataKeys())
    ncomp = image.GetNumberOfComponentsPerPixel()
    if image.GetDimension() == 4:  # a 4-D scalar image: unusual writer; last axis = layers
        arr4 = sitk.GetArrayFromImage(image)  # (layer, z, y, x)
        layers = [arr4[i] for i in range(arr4.shape[0])]
        geom = image[:, :, :, 0]
    elif ncomp > 1:
        arr = sitk.GetArrayFromImage(image)  # (z, y, x, layer)
        layers = [arr[..., i] for i in range(ncomp)]
        geom = sitk.VectorIndexSelectionCast(image, 0)
    else:
        layers = [sitk.GetArrayFromImage(image)]
        geom = image
    if geom.GetDimension() == 2:
        layers = [layer[None] for layer in layers]
        geom = sitk.JoinSeries(geom)
    check_geometry(geom, f"segmentation {_describe(p)}")
    result: dict[str, sitk.Image] = {}
    indices = sorted({int(k.split("_", 1)[0][len("Segment"):]) for k in keys
                      if k.startswith("Segment") and k.split("_", 1)[0][len("Segment"):].isdigit()})
    if not indices:
        values = np.unique(layers[0])
        for v in values[values != 0]:
            result[f"label_{int(v)}"] = _mask_like(layers[0] == v, geom)
        return result
    for i in indices:
        name = _meta(image, f"Segment{i}_Name") or _meta(image, f"Segment{i}_ID") or f"Segment_{i}"
        layer = int(_meta(image, f"Segment{i}_Layer") or (i if len(layers) > 1 else 0))
        value = int(_meta(image, f"Segment{i}_LabelValue") or 1)
        if layer >= len(layers):
            raise InputError(f"segmentation {_describe(p)} is inconsistent: segment '{name}' is on layer "
                             f"{layer} but the file has {len(layers)}; re-save it from Slicer")
        result[name] = _mask_like(layers[layer] == value, geom)
    return result


def _meta(image: sitk.Image, key: str) -> str | None:
    return image.GetMetaData(key).strip() if image.HasMetaDataKey(key) else None


def _mask_like(arr: np.ndarray, geom: sitk.Image) -> sitk.Image:
    m = sitk.GetImageFromArray(arr.astype(np.uint8))
    m.SetOrigin(geom.GetOrigin())
    m.SetSpacing(geom.GetSpacing())
    m.SetDirection(geom.GetDirection())
    return m


def is_segmentation_file(path: str | Path) -> bool:
    """True for a ``.seg.nrrd`` name (Slicer's segmentation files)."""
    return os.fspath(path).lower().endswith(".seg.nrrd")
