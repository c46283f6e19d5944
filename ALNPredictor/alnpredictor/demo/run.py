"""The built-in demonstration (grows with each part of the pipeline).

Current scope: read the real breast1 MRI case shipped in shared data, summarise the image and
its tumor label (volume in ml, intensity inside/outside) and write a JSON summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from alnpredictor import __version__
from alnpredictor.config import shared_data


def run_demo(out_dir: str | Path = "demo-output", seed: int = 7) -> dict:
    """Run the demo; returns (and writes) its summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    print(f"ALNPredictor {__version__} demo — research software, not for diagnostic use")
    image = sitk.ReadImage(str(shared_data("pyradiomics-cases", "breast1_image.nrrd")))
    label = sitk.ReadImage(str(shared_data("pyradiomics-cases", "breast1_label.nrrd")))
    arr, lab = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(label) > 0
    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    summary = {
        "case": "breast1",
        "size": list(image.GetSize()),
        "spacing_mm": list(image.GetSpacing()),
        "tumor_voxels": int(lab.sum()),
        "tumor_volume_ml": round(float(lab.sum()) * voxel_ml, 3),
        "mean_inside": float(arr[lab].mean()),
        "mean_outside": float(arr[~lab].mean()),
    }
    (out / "demo-summary.json").write_text(json.dumps(summary, indent=2))
    for key, value in summary.items():
        print(f"  {key:16s} {value}")
    print(f"summary written to {out / 'demo-summary.json'}")
    return summary
