"""One patient from images to the report a radiologist signs: the pathway (segmentation from
prompts or given masks, propagation, features), the model, the PDF + JSON report and — for a study
that came from DICOM — the DICOM SEG / Encapsulated PDF / SR for PACS.

The ``alnpredictor report`` command is a thin adapter over :func:`report_mri` and
:func:`report_ultrasound`; they call the same pathway and report functions as the Slicer Logic and
the demo (:func:`alnpredictor.pathways.mri.run_case`, :func:`alnpredictor.report.export.export_patient_report`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from alnpredictor import study
from alnpredictor.errors import InputError


@dataclass
class PatientReport:
    """What one patient's report run produced.

    :ivar prediction: the stored prediction (``Prediction.to_dict()``).
    :ivar paths: ``pdf``, ``json``, ``key_images``, ``nomogram`` and, with DICOM output, ``dicom``
        (``seg`` per sequence, ``pdf``, ``sr``).
    """

    prediction: dict[str, Any]
    paths: dict[str, Any]
    features: dict[str, float] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)


def report_mri(images: Mapping[str, sitk.Image], model_path: str | Path, out_dir: str | Path, *,
               settings=None, masks: Mapping[str, sitk.Image] | None = None,
               seeds_ras: Mapping[str, Any] | None = None, clinical: Mapping[str, Any] | None = None,
               dicom_sources: Mapping[str, Sequence] | None = None, dicom_out: str | Path | None = None,
               identifiers: Mapping[str, str] | None = None, include_identifiers: bool = False,
               progress=None) -> PatientReport:
    """An MRI study (sequence code → image) through the MRI pathway and ``model_path``; the report
    in ``out_dir``. The clinical values are checked against the model before minutes of work.

    :param masks: structure → mask on the reference grid (as given); others are grown from ``seeds_ras``.
    :param dicom_sources: sequence code → the source DICOM datasets
        (:func:`alnpredictor.report.dicom.read_series`); with ``dicom_out``, the ROIs of each such
        sequence become a SEG there, with the report PDF and an SR, in the source study.
    """
    from alnpredictor.models.clinical import check_clinical_values
    from alnpredictor.pathways import mri
    from alnpredictor.report.export import export_patient_report
    from alnpredictor.settings import MRISettings

    settings = settings or MRISettings()
    model = mri.load_model(model_path)
    check_clinical_values(model.clinical_fields, clinical or {})
    if dicom_out is not None and not dicom_sources:
        raise InputError("DICOM output needs a study read from DICOM: give --dicom STUDY_DIR")
    result = mri.run_case(images, settings, masks=masks, seeds_ras=seeds_ras, progress=progress)
    prediction = mri.predict(model, result.features, clinical)
    ref = settings.sequences[0]

    def on(seq: str) -> dict[str, sitk.Image]:
        return {name: result.masks[(study.roi_code(name), seq)] for name in settings.structures
                if (study.roi_code(name), seq) in result.masks}

    paths = export_patient_report(out_dir, prediction, model, images[ref], on(ref), features=result.features,
                                  clinical=clinical, identifiers=identifiers, include_identifiers=include_identifiers,
                                  quality=result.quality, image_label=study.sequence_description(ref),
                                  sequences={seq: (images[seq], on(seq)) for seq in settings.sequences},
                                  provenance=result.provenance)
    if dicom_out is not None:
        from alnpredictor.report.dicom import model_identity, write_dicom_results

        paths["dicom"] = write_dicom_results(dicom_out, dict(dicom_sources), {seq: on(seq) for seq in dicom_sources},
                                             prediction.to_dict(), paths["pdf"], *model_identity(model))
    return PatientReport(prediction.to_dict(), paths, dict(result.features), dict(result.quality))


def report_ultrasound(frame: sitk.Image, model_path: str | Path, out_dir: str | Path, *, settings=None,
                      mask: sitk.Image | None = None, seeds_ras=None, line_ras=None, box_ras=None,
                      clinical: Mapping[str, Any] | None = None, identifiers: Mapping[str, str] | None = None,
                      include_identifiers: bool = False) -> PatientReport:
    """An ultrasound frame through the ultrasound pathway and its DLRN model; the report in ``out_dir``.
    The frame must have a pixel spacing (areas in mm²)."""
    from alnpredictor.imaging.io import require_spacing
    from alnpredictor.models.clinical import check_clinical_values
    from alnpredictor.pathways import us
    from alnpredictor.report.export import export_patient_report
    from alnpredictor.settings import USSettings

    settings = settings or USSettings()
    model = us.load_model(model_path, settings)
    check_clinical_values(model.clinical_fields, clinical or {})
    require_spacing(frame, "the ultrasound frame")
    case = us.run_case(frame, settings, mask=mask, seeds_ras=seeds_ras, line_ras=line_ras, box_ras=box_ras)
    prediction = us.predict(model, case.features, clinical).with_context(mask_source=case.mask_source)
    paths = export_patient_report(out_dir, prediction, model, frame, {"tumor": case.mask}, features=case.features,
                                  clinical=clinical, identifiers=identifiers, include_identifiers=include_identifiers,
                                  quality=case.quality, image_label="ultrasound frame", provenance=case.provenance)
    return PatientReport(prediction.to_dict(), paths, dict(case.features), dict(case.quality))
