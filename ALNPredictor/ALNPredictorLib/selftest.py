"""The module's self-test scenarios, on data the package generates itself (``alnpredictor.synthetic``).

The in-app test (``ALNPredictorTest`` in ``ALNPredictor.py``, run by ctest inside Slicer) calls these
after the Python dependencies are installed: no shared data folder, no download. The same functions
run headless on the slicer-core scene (``tests/test_logic_selftest.py``), so the in-app scenario is
checked on every test run.

Each scenario goes through the Logic the way the panel's buttons do: volumes in the scene, seed point
lists, Segment, (MRI) Propagate, a model bundle, Predict into a table node, (MRI) Export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: PyRadiomics parameter file of the self-test: original features only (fast). The study's own
#: ``mri-yu2021`` adds the wavelet decompositions.
SELFTEST_PARAMS = "pyradiomics-baseline"


def _bundle_around(features: dict[str, float], path: Path, seed: int = 0) -> str:
    """A nomogram (LASSO signature + age) trained on a cohort built around one patient's features:
    every feature varies log-normally between patients and metastasis follows two of them."""
    import pandas as pd

    from alnpredictor.models import save_bundle, train_model

    rng = np.random.default_rng(seed)
    names = sorted(k for k, v in features.items() if np.isfinite(v) and v > 0)
    base = np.array([features[n] for n in names], float)
    rows = base * np.exp(rng.normal(0, 0.15, (80, len(names))))
    table = pd.DataFrame(rows, columns=names)
    driver = names.index("TT1C_original_firstorder_Mean")
    table["age"] = rng.integers(30, 80, len(table))
    signal = np.log(rows[:, driver] / base[driver]) * 12 - 0.02 * (table["age"] - 55)
    table["label"] = (signal + rng.normal(0, 1, len(table)) > 0).astype(int)
    model = train_model(table, "label", "nomogram", clinical=["age"], name="self-test nomogram", n_folds=5)
    return str(save_bundle(model, path))


def mri_scenario(logic: Any, folder: str | Path, params: str = SELFTEST_PARAMS, seed: int = 7) -> dict[str, Any]:
    """One synthetic MRI patient (contrast T1, T2WI, ADC with patient motion; a tumor and axillary
    nodes): seeds → Segment → Propagate → Predict (with a bundle trained here) → PDF + JSON report.

    :returns: ``probability``, ``pdf``, ``json``, ``dice`` (grown tumor vs the phantom's), the nodes.
    """
    from alnpredictor.synthetic.mri_cohort import make_patient

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    patient = make_patient("SELFTEST", "A", np.random.default_rng(seed))
    volumes = {seq: logic.volumeNodeFromImage(image, seq) for seq, image in patient.images.items()}
    tumorSeeds = logic.newPointList("ALN tumorSeeds", patient.seeds_ras["tumor"])
    nodeSeeds = logic.newPointList("ALN nodeSeeds", patient.seeds_ras["nodes"])

    segmentation, _ = logic.segmentFromSeeds(volumes["T1C"], tumorSeeds, nodeSeeds)
    grown = logic.arrayFromSegment(segmentation, "tumor", volumes["T1C"]) > 0
    import SimpleITK as sitk

    truth = sitk.GetArrayFromImage(patient.truth["tumor"]) > 0
    dice = float(2 * (grown & truth).sum() / max(1, grown.sum() + truth.sum()))
    (t2Segmentation, _), (adcSegmentation, _) = logic.propagateSegmentation(
        segmentation, volumes["T1C"], [volumes["T2"], volumes["ADC"]])
    propagated = {"T2": t2Segmentation, "ADC": adcSegmentation}
    cache = str(folder / "n4-cache")
    features, _, _ = logic.extractMRIFeatures(volumes["T1C"], volumes["T2"], volumes["ADC"], segmentation,
                                              propagatedNodes=propagated, params=params, cacheDir=cache)
    bundle = _bundle_around(features, folder / "selftest-mri.alnmodel")
    clinical = {"age": patient.clinical["age"]}
    result = logic.predictMRI(volumes["T1C"], volumes["T2"], volumes["ADC"], segmentation, bundle, clinical,
                              propagatedNodes=propagated, params=params, cacheDir=cache)
    report = logic.exportReport(str(folder / "report"), result["prediction"], result["model"], volumes["T1C"],
                                segmentation, features=result["features"], clinical=clinical,
                                quality=result["quality"])
    return {"probability": result["prediction"]["probability"], "pdf": report["pdf"], "json": report["json"],
            "dice": dice, "table": result["table"], "segmentation": segmentation, "volumes": volumes}


def colour_frame_node(logic: Any, grey: np.ndarray, spacing: tuple[float, float], name: str):
    """An RGB ``vtkMRMLVectorVolumeNode`` of a grey frame (as Slicer loads a PNG/JPEG/DICOM colour
    ultrasound frame): the three channels equal, one slice, the frame's pixel spacing."""
    import SimpleITK as sitk
    import slicer

    from alnpredictor.imaging.coords import ijk_to_ras_matrix
    from alnpredictor.synthetic.us_cohort import to_sitk

    geometry = sitk.JoinSeries(to_sitk(grey, spacing))
    rgb = np.repeat(np.asarray(grey, np.uint8)[np.newaxis, :, :, np.newaxis], 3, axis=3)
    node = logic.scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", name)
    node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(ijk_to_ras_matrix(geometry)))
    slicer.util.updateVolumeFromArray(node, rgb)
    node.CreateDefaultDisplayNodes()
    return node


def ultrasound_scenario(logic: Any, folder: str | Path, seed: int = 7) -> dict[str, Any]:
    """A synthetic ultrasound frame as an RGB vector volume → seed → Segment (the pathway's 2-D
    grow-cut) → a DLRN bundle trained on a cohort built around this frame's features → Predict. Needs
    torch/torchvision (ResNet50 features, untrained backbone; PyRadiomics texture off: faster).

    :returns: ``probability``, the prediction, the table node, the segmentation and the frame's node.
    """
    import pandas as pd

    from alnpredictor.models import save_bundle
    from alnpredictor.pathways import us, us_model
    from alnpredictor.settings import USSettings
    from alnpredictor.synthetic.us_cohort import generate_cohort

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    settings = USSettings(radiomics=False)
    case = generate_cohort(1, seed=seed)[0]
    frame = colour_frame_node(logic, case.image, case.spacing, "US frame")
    seeds = logic.newPointList("ALN tumorSeeds", [case.seed_ras])
    segmentation, _ = logic.segmentFromSeeds(frame, seeds, pathway="us")

    # A cohort around this frame: every feature varies between patients, metastasis follows two
    # handcrafted features and the axillary-ultrasound status (what the study's nomogram uses).
    mask = logic.masksFromSegmentation(segmentation, frame)["tumor"]
    features = us.run_case(logic.imageFromVolumeNode(frame), settings, mask=mask).features
    # 24 handcrafted and 8 deep features (LASSO over thousands of columns takes minutes; the model
    # then asks Predict for these features only, as a model trained on an ICC-filtered table does)
    handcrafted = [k for k in sorted(features) if k.startswith("US_") and abs(features[k]) > 1e-3][:24]
    names = handcrafted + [f"DL_{i}" for i in range(8)]
    base = np.array([features[n] for n in names], float)
    rng = np.random.default_rng(seed)
    n = 200
    rows = base * (1 + rng.normal(0, 0.15, (n, len(names)))) + rng.normal(0, 0.05, (n, len(names))) * (np.abs(base) + 1e-3)
    table = pd.DataFrame(rows, columns=names)
    drivers = handcrafted[:2]
    z = sum((table[d] - table[d].mean()) / (table[d].std() + 1e-12) for d in drivers)
    table["us_aln"] = (z + rng.normal(0, 1.5, n) > 0.5).astype(int)
    table["age"] = rng.integers(30, 80, n)
    table["birads"] = rng.integers(1, 5, n)
    table["nuclear_grade"] = rng.integers(1, 4, n)
    table["label"] = (0.6 * z + 0.6 * table["us_aln"] + rng.normal(0, 1.5, n) > 0.3).astype(int)
    model = us_model.train_us_model(table, provenance=settings, n_folds=5, lambda_rule="1se")
    bundle = str(save_bundle(model, folder / "selftest-us.alnmodel"))

    result = logic.predictUltrasound(frame, seeds, bundle, case.clinical, segmentationNode=segmentation)
    return {"probability": result["prediction"]["probability"], "table": result["table"],
            "segmentation": segmentation, "frame": frame, "prediction": result["prediction"],
            "features": features}
