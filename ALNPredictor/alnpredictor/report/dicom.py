"""DICOM objects that take a patient's results back to PACS (highdicom / pydicom).

When a study came from DICOM, the results are written as new series of the *same* study:

* a **DICOM SEG** per sequence, referencing that sequence's source series, one segment per
  structure (tumor → SCT Neoplasm in the breast, nodes → SCT Lymph node in the axilla), algorithm
  type SEMIAUTOMATIC (grown from the radiologist's prompts) with the software as algorithm;
* the report as an **Encapsulated PDF** (modality DOC);
* the key results as a **Comprehensive 3D SR** (TID 1500 Measurement Report): the probability,
  the total nomogram points and the cut-off as measurements, the class as a qualitative
  evaluation, each ROI's volume (mL) referencing its SEG segment, with the model's name and version
  as the algorithm of every measurement.

Identifiers (patient, study, accession, referring physician) are copied from the source series,
never invented; the new series get new UIDs. Values without a standard code (the probability of
axillary lymph node metastasis, its class, nomogram points) use the private coding scheme
:data:`CODING_SCHEME` ("99" designators are reserved for local use by PS3.16).

Slicer's DICOM module with the QuantitativeReporting extension reads these SEG and SR objects.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from alnpredictor import __version__, study
from alnpredictor.errors import InputError

#: Private coding scheme of the values without a standard code.
CODING_SCHEME = "99ALNP"
MANUFACTURER = "ALNPredictor"
SERIES_NUMBERS = {"seg": 9100, "pdf": 9200, "sr": 9300}

#: Series-level and study-level attributes copied from the source (never invented).
_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge", "IssuerOfPatientID",
           "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName",
           "StudyDescription", "FrameOfReferenceUID")


def _hd():
    try:
        import highdicom
    except ImportError as exc:  # pragma: no cover - installed by requirements.txt
        raise InputError("DICOM output needs the highdicom package: pip install -r requirements.txt") from exc
    return highdicom


def _code(value: str, meaning: str, scheme: str = CODING_SCHEME):
    return _hd().sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _structure_codes(name: str) -> dict[str, Any]:
    """Segmented property category/type and anatomic region of a structure of the vocabulary."""
    from pydicom.sr.codedict import codes

    if name == "tumor":
        return {"category": codes.SCT.MorphologicallyAbnormalStructure, "type": codes.SCT.Neoplasm,
                "region": codes.SCT.Breast}
    if name == "nodes":
        return {"category": codes.SCT.AnatomicalStructure, "type": codes.SCT.LymphNode, "region": codes.SCT.Axilla}
    return {"category": codes.SCT.Tissue, "type": _code(name, name), "region": codes.SCT.Breast}


# --------------------------------------------------------------------------------------------- source
def _scan(folder: str | Path) -> dict[str, list[tuple[Path, Any]]]:
    """SeriesInstanceUID → (file, header without pixels) of every image file under ``folder``
    (searched recursively; files that are not DICOM images are skipped, as DICOM readers do)."""
    import pydicom

    found: dict[str, list[tuple[Path, Any]]] = {}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not a DICOM file
            continue
        if "ImagePositionPatient" in ds and "SeriesInstanceUID" in ds:
            found.setdefault(str(ds.SeriesInstanceUID), []).append((path, ds))
    return found


def read_series(folder: str | Path, series_uid: str | None = None) -> list:
    """The datasets (headers and pixels) of one DICOM series in ``folder`` (searched recursively),
    sorted along the slice normal. With several series, ``series_uid`` chooses one; only its files
    are read whole.

    :raises InputError: no DICOM file, several series without a choice, an unknown series."""
    folder = Path(folder)
    found = _scan(folder)
    if not found:
        raise InputError(f"{folder} holds no DICOM image series: give the folder of the source series")
    if series_uid is None:
        if len(found) > 1:
            raise InputError(f"{folder} holds {len(found)} series ({', '.join(sorted(found))}): choose one by its "
                             "SeriesInstanceUID")
        series_uid = next(iter(found))
    if series_uid not in found:
        raise InputError(f"series {series_uid} is not in {folder}; it holds {', '.join(sorted(found))}")
    return read_datasets([path for path, _ in found[series_uid]])


def read_datasets(files: Sequence[str | Path]) -> list:
    """The datasets of the given files (one series), sorted along the slice normal."""
    import pydicom

    datasets = [pydicom.dcmread(f) for f in files]
    if not datasets:
        raise InputError("no DICOM file given")
    normal = np.cross(*np.reshape(np.asarray(datasets[0].ImageOrientationPatient, float), (2, 3)))
    return sorted(datasets, key=lambda d: float(np.dot(normal, np.asarray(d.ImagePositionPatient, float))))


def series_uid_of(path: str | Path) -> str | None:
    """The SeriesInstanceUID of a DICOM file; None for a file that is not DICOM."""
    import pydicom

    try:
        return str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)
    except Exception:  # noqa: BLE001 - not DICOM (or unreadable): the caller says what to do
        return None


def series_folder(datasets: Sequence) -> Path:
    """The folder holding a series' files (what an image reader is given).

    :raises InputError: files of the series spread over several folders."""
    folders = {Path(ds.filename).parent for ds in datasets}
    if len(folders) != 1:
        raise InputError(f"series {datasets[0].SeriesInstanceUID} is spread over {len(folders)} folders: put its files "
                         "in one folder")
    return folders.pop()


def mask_frames(datasets: Sequence, mask: sitk.Image) -> np.ndarray:
    """A mask on the series' grid (as the image readers give it) as frames in the order of
    ``datasets``: each source frame takes the mask slice at its ImagePositionPatient, so the SEG
    refers to the same voxels whatever order the reader sorted the slices in.

    :raises InputError: a mask whose grid is not the series' (other size, or a frame outside it)."""
    arr = sitk.GetArrayFromImage(mask) > 0
    rows, cols = int(datasets[0].Rows), int(datasets[0].Columns)
    if arr.shape[1:] != (rows, cols):
        raise InputError(f"mask of {arr.shape[2]}×{arr.shape[1]} pixels on a series of {cols}×{rows}: the SEG "
                         "needs masks on the source series' own grid")
    frames = np.zeros((len(datasets), rows, cols), bool)
    for f, ds in enumerate(datasets):
        index = mask.TransformPhysicalPointToContinuousIndex([float(v) for v in ds.ImagePositionPatient])
        k = int(round(index[2]))
        if abs(index[0]) > 0.01 or abs(index[1]) > 0.01 or abs(index[2] - k) > 0.01 or not 0 <= k < arr.shape[0]:
            raise InputError(f"frame {f + 1} of the source series (position {list(ds.ImagePositionPatient)}) is not a "
                             "slice of the mask's grid: the mask was not made on this series")
        frames[f] = arr[k]
    return frames


def model_identity(model: Any) -> tuple[str, str]:
    """(name, version) of a model as the SR's algorithm records it: its name and creation stamp."""
    return str(model.name), str(model.spec.get("created") or model.spec.get("schema") or "1")


def _new_uid() -> str:
    return str(_hd().UID())


def _software() -> str:
    return f"alnpredictor {__version__}"


# ------------------------------------------------------------------------------------------------ SEG
def segmentation(datasets: Sequence, masks: Mapping[str, sitk.Image], sequence: str,
                 series_number: int = SERIES_NUMBERS["seg"]):
    """A DICOM SEG (binary) of ``masks`` (structure → mask on the series' grid) on the source series.

    :raises InputError: every mask empty, or a mask not on the series' grid."""
    hd = _hd()
    names = [n for n in masks if np.any(sitk.GetArrayViewFromImage(masks[n]))]
    if not names:
        raise InputError(f"every ROI on {sequence} is empty: nothing to store as a DICOM SEG")
    algorithm = hd.AlgorithmIdentificationSequence(
        name="ALNPredictor prompted grow-cut", version=__version__,
        family=_code("ALNP-SEG", "Semi-automatic segmentation from prompts"))
    descriptions, planes = [], []
    for number, name in enumerate(names, start=1):
        c = _structure_codes(name)
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=f"{name} ({sequence})", segmented_property_category=c["category"],
            segmented_property_type=c["type"], algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
            algorithm_identification=algorithm, tracking_uid=_new_uid(), tracking_id=f"{name} {sequence}",
            anatomic_regions=[c["region"]]))
        planes.append(mask_frames(datasets, masks[name]))
    pixels = np.stack(planes, axis=-1).astype(np.uint8)  # frames × rows × columns × segments
    return hd.seg.Segmentation(
        source_images=list(datasets), pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=_new_uid(), series_number=series_number,
        sop_instance_uid=_new_uid(), instance_number=1, manufacturer=MANUFACTURER,
        manufacturer_model_name="ALNPredictor", software_versions=_software(), device_serial_number="none",
        content_description=f"ALNPredictor ROIs on {sequence}"[:64], content_label="ALNP_ROIS",
        omit_empty_frames=False)


def read_segmentation_masks(path: str | Path, datasets: Sequence) -> dict[str, np.ndarray]:
    """Read a SEG back: segment label → frames (in the order of ``datasets``), for the round trip."""
    import highdicom as hd

    seg = hd.seg.segread(str(path))
    sop_uids = [str(ds.SOPInstanceUID) for ds in datasets]
    out = {}
    for number in seg.get_segment_numbers():
        label = seg.get_segment_description(number).segment_label
        out[label] = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=sop_uids, segment_numbers=[number], assert_missing_frames_are_empty=True,
        )[..., 0].astype(bool)
    return out


# ------------------------------------------------------------------------------------------------ PDF
def encapsulated_pdf(source, pdf: bytes, title: str = "ALNPredictor report",
                     series_number: int = SERIES_NUMBERS["pdf"]):
    """An Encapsulated PDF Storage instance of the report in the source's study (modality DOC)."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    if not pdf.startswith(b"%PDF"):
        raise InputError("the report to encapsulate is not a PDF file")
    now = _dt.datetime.now()
    ds = pydicom.Dataset()
    for key in _COPIED:
        if key in source and key != "FrameOfReferenceUID":
            ds[key] = source[key]
    for key in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                "ReferringPhysicianName", "StudyID", "AccessionNumber"):
        if key not in ds:
            setattr(ds, key, "")  # type 2: present, empty when the source has none
    ds.SOPClassUID = pydicom.uid.EncapsulatedPDFStorage
    ds.SOPInstanceUID = _new_uid()
    ds.SeriesInstanceUID = _new_uid()
    ds.Modality = "DOC"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = 1
    ds.SeriesDescription = "ALNPredictor report"
    ds.Manufacturer = MANUFACTURER
    ds.SoftwareVersions = _software()
    ds.ConversionType = "WSD"
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title[:64]
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(pdf)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


# ------------------------------------------------------------------------------------------------- SR
def structured_report(source_series: Mapping[str, Sequence], segmentations: Mapping[str, Any],
                      prediction: Mapping[str, Any], volumes_ml: Mapping[tuple[str, str], float],
                      model_name: str, model_version: str, series_number: int = SERIES_NUMBERS["sr"]):
    """A Comprehensive 3D SR (TID 1500) of the key results.

    :param source_series: sequence code → its source datasets (the SR's evidence).
    :param segmentations: sequence code → its SEG (volumes reference its segments).
    :param prediction: the stored prediction (``probability``, ``class``, ``cutoff``, ``total_points``).
    :param volumes_ml: (structure, sequence) → ROI volume in mL.
    """
    from pydicom.sr.codedict import codes

    hd = _hd()
    algorithm = hd.sr.AlgorithmIdentification(name=str(model_name)[:64] or "model", version=str(model_version)[:64])
    unity = _code("1", "no units", "UCUM")
    measurements = [hd.sr.Measurement(
        name=_code("ALNM-P", "Probability of axillary lymph node metastasis"),
        value=float(prediction["probability"]), unit=unity, algorithm_id=algorithm)]
    if prediction.get("cutoff") is not None:
        measurements.append(hd.sr.Measurement(name=_code("ALNM-CUT", "Model cut-off for metastasis"),
                                              value=float(prediction["cutoff"]), unit=unity, algorithm_id=algorithm))
    if prediction.get("total_points") is not None:
        measurements.append(hd.sr.Measurement(name=_code("ALNM-PTS", "Nomogram total points"),
                                              value=float(prediction["total_points"]),
                                              unit=_code("{points}", "points", "UCUM"), algorithm_id=algorithm))
    evaluations = []
    if prediction.get("class"):
        positive = str(prediction["class"]) == "metastasis"
        evaluations.append(hd.sr.QualitativeEvaluation(
            name=_code("ALNM-C", "Predicted axillary lymph node status"),
            value=_code("ALNM-POS", "Metastasis") if positive else _code("ALNM-NEG", "No metastasis")))
    groups = [hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=_new_uid(), identifier="ALN metastasis prediction"),
        algorithm_id=algorithm, measurements=measurements, qualitative_evaluations=evaluations or None,
        finding_sites=[hd.sr.FindingSite(codes.SCT.Axilla)])]
    for sequence, seg in segmentations.items():
        series_uid = str(source_series[sequence][0].SeriesInstanceUID)
        for number in seg.get_segment_numbers():
            label = seg.get_segment_description(number).segment_label
            name = label.split(" (")[0]
            volume = volumes_ml.get((name, sequence))
            if volume is None:
                continue
            groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=_new_uid(), identifier=label),
                referenced_segment=hd.sr.ReferencedSegment(
                    sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID, segment_number=number,
                    source_series=hd.sr.SourceSeriesForSegmentation(series_uid)),
                measurements=[hd.sr.Measurement(name=codes.SCT.Volume, value=float(volume),
                                                unit=_code("ml", "milliliter", "UCUM"))],
                finding_type=_structure_codes(name)["type"]))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=_new_uid(), name="ALNPredictor", manufacturer_name=MANUFACTURER, model_name=_software()))),
        procedure_reported=_code("ALNP-PRED", "Prediction of axillary lymph node metastasis"),
        imaging_measurements=groups)
    evidence = [ds for datasets in source_series.values() for ds in datasets] + list(segmentations.values())
    return hd.sr.Comprehensive3DSR(
        evidence=evidence, content=report, series_instance_uid=_new_uid(), series_number=series_number,
        sop_instance_uid=_new_uid(), instance_number=1, manufacturer=MANUFACTURER, is_complete=True,
        is_final=False, is_verified=False)


# -------------------------------------------------------------------------------------------- writing
def write_dicom_results(out_dir: str | Path, source_series: Mapping[str, Sequence],
                        masks: Mapping[str, Mapping[str, sitk.Image]], prediction: Mapping[str, Any],
                        pdf_path: str | Path | None, model_name: str, model_version: str) -> dict[str, Any]:
    """Write the SEG per sequence, the encapsulated PDF and the SR into ``out_dir`` — all or none.

    :param source_series: sequence code → source datasets (:func:`read_series`).
    :param masks: sequence code → {structure → mask on that sequence's grid}.
    :returns: {"seg": {sequence: path}, "pdf": path or None, "sr": path}. File names are UIDs only
        (no patient identifier in a file name).
    """
    from alnpredictor.imaging.segmentation import mask_size
    from alnpredictor.outputs import OutputGroup

    segs, volumes = {}, {}
    for sequence, datasets in source_series.items():
        seq_masks = masks.get(sequence) or {}
        if not seq_masks:
            continue
        order = study.mri_sequences()
        segs[sequence] = segmentation(datasets, seq_masks, sequence,
                                      SERIES_NUMBERS["seg"] + (order.index(sequence) if sequence in order else 0))
        for name, mask in seq_masks.items():
            volumes[(name, sequence)] = mask_size(mask)["volume_ml"]  # as the report prints it
    if not segs:
        raise InputError("no ROI to store: segment the study first")
    first = next(iter(source_series.values()))[0]
    sr = structured_report(source_series, segs, prediction, volumes, model_name, model_version)
    out_dir = Path(out_dir)
    written: dict[str, Any] = {"seg": {}, "pdf": None, "sr": None}
    with OutputGroup() as group:
        for sequence, seg in segs.items():
            final = out_dir / f"SEG_{seg.SOPInstanceUID}.dcm"
            group.write_with(final, lambda tmp, s=seg: s.save_as(tmp, enforce_file_format=True))
            written["seg"][sequence] = str(final)
        if pdf_path is not None:
            pdf = encapsulated_pdf(first, Path(pdf_path).read_bytes())
            final = out_dir / f"DOC_{pdf.SOPInstanceUID}.dcm"
            group.write_with(final, lambda tmp: pdf.save_as(tmp, enforce_file_format=True))
            written["pdf"] = str(final)
        final = out_dir / f"SR_{sr.SOPInstanceUID}.dcm"
        group.write_with(final, lambda tmp: sr.save_as(tmp, enforce_file_format=True))
        written["sr"] = str(final)
        group.commit()
    return written


# ------------------------------------------------------------------------------------- study layout
def list_series(folder: str | Path) -> list[dict[str, Any]]:
    """The image series of a DICOM study folder: UID, number, description, modality, slices."""
    series = []
    for uid, files in _scan(folder).items():
        ds = files[0][1]
        series.append({"uid": uid, "number": ds.get("SeriesNumber"), "description": str(ds.get("SeriesDescription", "")),
                       "modality": str(ds.get("Modality", "")), "slices": len(files)})
    return sorted(series, key=lambda s: (s["number"] is None, s["number"] or 0, s["uid"]))


def assign_sequences(folder: str | Path, sequences: Sequence[str], explicit: Mapping[str, str] | None = None
                     ) -> dict[str, str]:
    """Sequence code → SeriesInstanceUID in a study folder: as given (``--series SEQ=UID``), else the
    one series whose SeriesDescription holds the code as a word (``T2``, ``ADC``, ``T1C``). Never a
    guess: an ambiguous or missing match is an error that lists the series and says how to choose.
    """
    import re

    available = list_series(folder)
    if not available:
        raise InputError(f"{folder} holds no DICOM image series: give the study folder")
    uids = {s["uid"] for s in available}
    chosen: dict[str, str] = {}
    for seq in sequences:
        if explicit and seq in explicit:
            if explicit[seq] not in uids:
                raise InputError(f"--series {seq}={explicit[seq]}: no such series in {folder}")
            chosen[seq] = explicit[seq]
            continue
        pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(seq)}(?![A-Za-z0-9])", re.IGNORECASE)
        matches = [s for s in available if pattern.search(s["description"])]
        if len(matches) != 1:
            listing = "; ".join(f"{s['uid']} (#{s['number']}, '{s['description']}', {s['slices']} slices)"
                                for s in available)
            raise InputError(f"{'no' if not matches else len(matches)} series of {folder} named {seq} "
                             f"({study.sequence_description(seq)}) by its description: choose with --series "
                             f"{seq}=SeriesInstanceUID. Series: {listing}")
        chosen[seq] = matches[0]["uid"]
    return chosen


def source_identifiers(dataset) -> dict[str, str]:
    """The identifiers a report may show (only when the user asks): copied from the source."""
    keys = ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "AccessionNumber", "StudyDescription")
    return {k: str(dataset.get(k)) for k in keys if dataset.get(k) not in (None, "")}
