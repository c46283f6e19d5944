"""Write the feature-regression fixtures (tests/fixtures/regression/).

Run once, at commit 4e08d14 (before the application layer was restructured), with
``.venv/bin/python tools/make_regression_fixtures.py``; the CSVs it wrote are committed and
``tests/test_regression_features.py`` compares today's pipeline against them value for value.

* ``breast1.csv`` — breast1 (PyRadiomics' real breast MRI) as contrast T1 with its tumor label as
  ROI ``T`` and the tumor's peritumoral shell as ROI ``L``, propagated with registration to simulated T2/ADC (``rng`` seed 1, as the Logic test
  builds them), N4 on, ``mri-yu2021``: 6 × 851 features.
* ``demo_patient.csv`` — the first synthetic demo patient (``make_cohort(7, {"A": 1})``) through
  the cohort runner with the demo's settings (seeds → grow-cut → registration → N4 (30, 20) →
  ``mri-yu2021``): 5,106 features.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "regression"


def breast1_inputs(folder: Path) -> Path:
    """breast1 T1C + label and simulated T2/ADC written to ``folder``; returns the manifest."""
    from alnpredictor.config import shared_data
    from alnpredictor.imaging.io import read_volume
    from alnpredictor.imaging.simulate import image_center, random_rigid_motion, simulate_sequence

    cases = shared_data("pyradiomics-cases")
    ref = read_volume(cases / "breast1_image.nrrd")
    rng = np.random.default_rng(1)
    t2, _ = simulate_sequence(ref, random_rigid_motion(rng, image_center(ref), 2.0, 2.0), spacing=(0.8, 0.8, 3.0),
                              rng=rng, inset_mm=2)
    adc, _ = simulate_sequence(ref, random_rigid_motion(rng, image_center(ref), 2.0, 2.0), spacing=(1.4, 1.4, 3.0),
                               rng=rng, inset_mm=2)
    case = folder / "breast1"
    case.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(ref, str(case / "T1C.nrrd"), True)
    sitk.WriteImage(t2, str(case / "T2.nrrd"), True)
    sitk.WriteImage(adc, str(case / "ADC.nrrd"), True)
    label = sitk.ReadImage(str(cases / "breast1_label.nrrd")) > 0
    sitk.WriteImage(label, str(case / "mask_tumor.nrrd"), True)
    # breast1 shows no axillary nodes: its second ROI is the tumor's peritumoral shell (3 voxels in-plane).
    shell = sitk.And(sitk.BinaryDilate(label, (3, 3, 1)), sitk.Not(label))
    sitk.WriteImage(shell, str(case / "mask_nodes.nrrd"), True)
    manifest = folder / "manifest.csv"
    pd.DataFrame([{"case_id": "breast1", "image_T1C": "breast1/T1C.nrrd", "image_T2": "breast1/T2.nrrd",
                   "image_ADC": "breast1/ADC.nrrd", "mask_tumor": "breast1/mask_tumor.nrrd",
                   "mask_nodes": "breast1/mask_nodes.nrrd"}]).to_csv(manifest,
                                                                                                     index=False)
    return manifest


def main() -> int:
    from alnpredictor.cohort.runner import run_cohort
    from alnpredictor.demo.synthetic_mri import make_cohort, write_patients

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = breast1_inputs(tmp / "b1")
        res = run_cohort(manifest, tmp / "b1-run", workers=1, progress=False,
                         settings={"params": "mri-yu2021", "n4": True, "register": True, "on_roi_error": "nan"})
        table = pd.read_csv(res.features_csv)
        cols = ["case_id"] + [c for c in table.columns if c[:1] in "TL" and "_" in c]
        table[cols].to_csv(OUT / "breast1.csv", index=False, float_format="%.17g")
        print("breast1:", len(cols) - 1, "features")

        manifest = write_patients(make_cohort(7, {"A": 1}), tmp / "demo")
        res = run_cohort(manifest, tmp / "demo-run", workers=1, progress=False,
                         settings={"params": "mri-yu2021", "n4": True, "n4_iterations": (30, 20),
                                   "register": True, "on_roi_error": "nan"})
        table = pd.read_csv(res.features_csv)
        cols = ["case_id"] + [c for c in table.columns if c[:1] in "TL" and "_" in c]
        table[cols].to_csv(OUT / "demo_patient.csv", index=False, float_format="%.17g")
        print("demo patient:", len(cols) - 1, "features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
