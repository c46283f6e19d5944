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

    folder = Path(folder)
    cases = shared_data("pyradiomics-cases")
    ref = read_volume(cases / "breast1_image.nrrd")
    t2, adc = simulated_t2_adc(ref)
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


def simulated_t2_adc(reference):
    """T2-like and ADC-like sequences of the same examination as ``reference`` (contrast T1), each
    with its own grid and a 2 mm / 2° patient motion (``rng`` seed 1): what the breast1 tests use."""
    from alnpredictor.synthetic.motion import image_center, random_rigid_motion, simulate_sequence

    rng = np.random.default_rng(1)
    t2, _ = simulate_sequence(reference, random_rigid_motion(rng, image_center(reference), 2.0, 2.0),
                              spacing=(0.8, 0.8, 3.0), rng=rng, inset_mm=2)
    adc, _ = simulate_sequence(reference, random_rigid_motion(rng, image_center(reference), 2.0, 2.0),
                               spacing=(1.4, 1.4, 3.0), rng=rng, inset_mm=2)
    return t2, adc


def train_feature_bundle(features, path, name="test nomogram") -> str:
    """A nomogram (LASSO signature + age) saved at ``path``, trained on a cohort built around one
    study's features: each feature varies log-normally between patients and metastasis follows two
    of them (TT1C mean up, TT2 sphericity down)."""
    import pandas as pd

    from alnpredictor.models import save_bundle, train_model

    rng = np.random.default_rng(0)
    names = sorted(features)
    base = np.array([features[n] for n in names], float)
    rows = base * np.exp(rng.normal(0, 0.15, (80, len(names))))
    table = pd.DataFrame(rows, columns=names)
    signal = np.log(rows[:, names.index("TT1C_original_firstorder_Mean")] / base[names.index("TT1C_original_firstorder_Mean")])
    signal -= np.log(rows[:, names.index("TT2_original_shape_Sphericity")] / base[names.index("TT2_original_shape_Sphericity")])
    table["age"] = rng.integers(30, 80, len(table))
    table["label"] = (signal * 12 - 0.02 * (table["age"] - 55) + rng.normal(0, 1, len(table)) > 0).astype(int)
    model = train_model(table, "label", "nomogram", clinical=["age"], name=name, n_folds=5)
    return str(save_bundle(model, path))
