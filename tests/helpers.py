"""Small helpers shared by several test modules."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def dice(a, b) -> float:
    """Dice overlap of two masks (SimpleITK images or arrays; non-zero = inside)."""
    x = sitk.GetArrayViewFromImage(a) > 0 if isinstance(a, sitk.Image) else np.asarray(a) > 0
    y = sitk.GetArrayViewFromImage(b) > 0 if isinstance(b, sitk.Image) else np.asarray(b) > 0
    return float(2 * (x & y).sum() / (x.sum() + y.sum()))


def breast1_inputs(folder):
    """breast1 (real breast MRI) as a case folder + one-row manifest in ``folder``: contrast T1, its tumor
    label as ``mask_tumor``, the tumor's peritumoral shell as ``mask_nodes`` (breast1 shows no axillary
    nodes) and T2-like / ADC-like sequences simulated from it with patient motion (``rng`` seed 1).
    Returns the manifest path; the case folder is ``folder/breast1``."""
    from pathlib import Path

    import pandas as pd

    from alnpredictor.config import shared_data
    from alnpredictor.imaging.io import read_volume
    from alnpredictor.synthetic.motion import image_center, random_rigid_motion, simulate_sequence

    folder = Path(folder)
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
    shell = sitk.And(sitk.BinaryDilate(label, (3, 3, 1)), sitk.Not(label))
    sitk.WriteImage(shell, str(case / "mask_nodes.nrrd"), True)
    manifest = folder / "manifest.csv"
    pd.DataFrame([{"case_id": "breast1", **{f"image_{s}": f"breast1/{s}.nrrd" for s in ("T1C", "T2", "ADC")},
                   "mask_tumor": "breast1/mask_tumor.nrrd", "mask_nodes": "breast1/mask_nodes.nrrd"}]).to_csv(
        manifest, index=False)
    return manifest
