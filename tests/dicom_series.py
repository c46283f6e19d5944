"""A real DICOM MR series written from a SimpleITK image with pydicom (MR Image Storage, one file
per slice, as a scanner exports it): for tests that read DICOM studies and write results back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk


def write_mr_series(image: sitk.Image, folder: str | Path, *, series_description: str = "T1C",
                    study_uid: str | None = None, patient_name: str = "Test^Patient", patient_id: str = "P001",
                    series_number: int = 1, series_uid: str | None = None,
                    shuffle_files: bool = True) -> list[Path]:
    """Write ``image`` (3-D, any orientation) as an MR series in ``folder``; returns the file paths in
    slice order. With ``shuffle_files`` the file names do not follow the slice order, so readers must
    sort by position, not by name. Stored pixels are the image's values rounded, shifted by the
    rescale intercept (its minimum) so that they fit unsigned 16 bits.

    pydicom, not SimpleITK's DICOM writer: GDCM's writer resets the process's LC_CTYPE to "C", after
    which Python's default text encoding is ASCII for the rest of the test session."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    array = sitk.GetArrayFromImage(image)
    lo = float(array.min())
    pixels = np.clip(np.round(array - lo), 0, 65535).astype(np.uint16)
    direction = np.reshape(image.GetDirection(), (3, 3))
    study_uid = study_uid or generate_uid()
    series_uid, frame_uid = series_uid or generate_uid(), generate_uid()
    order = np.random.default_rng(0).permutation(array.shape[0]) if shuffle_files else np.arange(array.shape[0])
    paths = []
    for k in range(array.shape[0]):
        ds = pydicom.Dataset()
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = patient_name, patient_id, "19700101", "F"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20260101", "120000", "1", "A1"
        ds.ReferringPhysicianName = ""
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "MR", series_number, k + 1
        ds.SeriesDescription = series_description
        ds.Manufacturer = "test"
        ds.PositionReferenceIndicator = ""
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = "GR", "NONE", "", "3D"
        ds.EchoTrainLength, ds.RepetitionTime, ds.EchoTime = 1, 4.0, 2.0
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.SOPInstanceUID = f"{series_uid}.{k + 1}" if len(series_uid) < 58 else ds.SOPInstanceUID
        ds.ImagePositionPatient = [float(v) for v in image.TransformIndexToPhysicalPoint((0, 0, k))]
        ds.ImageOrientationPatient = [float(v) for v in (*direction[:, 0], *direction[:, 1])]
        ds.PixelSpacing = [float(image.GetSpacing()[1]), float(image.GetSpacing()[0])]
        ds.SliceThickness = float(image.GetSpacing()[2])
        ds.Rows, ds.Columns = int(array.shape[1]), int(array.shape[2])
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = lo, 1.0, "US"
        ds.PixelData = pixels[k].tobytes()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        path = folder / f"{series_uid[-6:]}_{int(order[k]):04d}.dcm"  # several series may share a folder
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
