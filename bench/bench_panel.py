"""The panel's Predict click → probability, on a full-size synthetic study (issue: responsive Predict).

Study: ``alnpredictor.synthetic.mri_study.make_study(scale=1)`` — T1C 448×448×160, T2 512×512×60,
ADC 224×224×40, tumour + nodes. The N4 cache is filled beforehand (as the panel's background N4 does when the volumes
are chosen). A model bundle trained on the study's feature names (``mri-yu2021``: original +
wavelet, 5,106 features; a nomogram with age) is on disk.

Each variant runs in its own fresh Python process, so the first click pays the imports and the model
load, as it does in Slicer:

* ``panel`` — the module's Logic on a real MRML scene (slicer-core): volumes and the segmentation
  are in the scene (not timed). The click sequence is Propagate (registration of T2 and ADC to T1C
  around the ROIs; the radiologist checks it) then Predict: both are timed, Predict
  (``Logic.predictMRI`` with the propagated segmentations, as the panel passes them) with its parts
  from the progress callback (model load + clinical checks, reading volumes, N4 (cache hit) + the 6
  PyRadiomics extractions on both cores, prediction). Predict without a prior Propagate (it then
  registers itself) is timed too;
* ``plain`` — the reference in the same run: what a SlicerRadiomics-style path does for the same 6
  ROI×sequence pairs — ``RadiomicsFeatureExtractor(mri-yu2021.yaml).execute`` on the whole images,
  one after another, on the same N4-corrected images and the masks the panel propagated.

Printed: the click-to-probability seconds and its parts, and the ratio plain / panel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 5.0


def _prepare(folder: Path) -> None:
    """Study files, a moved T2/ADC, the N4 cache and a model bundle (not timed)."""
    import numpy as np
    import pandas as pd
    import SimpleITK as sitk

    from alnpredictor.features.radiomics import feature_names, load_params
    from alnpredictor.imaging.preprocess import n4_correct
    from alnpredictor.models import save_bundle, train_model
    from alnpredictor.settings import MRI_PARAMS
    from alnpredictor.study import feature_name, mri_sequences, roi_codes
    from alnpredictor.synthetic.mri_study import make_study

    study = make_study(scale=1.0, seed=11)
    for seq, image in study.images.items():
        sitk.WriteImage(image, str(folder / f"{seq}.nrrd"), True)
        n4_correct(image, cache_dir=folder / "n4")
    for roi in roi_codes():
        sitk.WriteImage(study.masks[(roi, "T1C")], str(folder / f"mask_{roi}.nrrd"), True)
    names = [feature_name(r, s, n) for r in roi_codes() for s in mri_sequences()
             for n in feature_names(load_params(MRI_PARAMS))]
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(80, len(names))), columns=names)
    table["age"] = rng.integers(30, 80, len(table))
    signal = table[names[0]] - table[names[-1]] + 0.03 * (table["age"] - 55)
    table["label"] = (signal + rng.normal(0, 0.7, len(table)) > 0).astype(int)
    model = train_model(table, "label", "nomogram", clinical=["age"], name="bench nomogram", n_folds=5)
    save_bundle(model, folder / "bench.alnmodel")


def _child_panel(folder: Path) -> dict:
    t_import = time.perf_counter()
    sys.path.insert(0, str(ROOT / "ALNPredictor"))
    from ALNPredictorLib.headless import headless_context
    from ALNPredictorLib.logic import ALNPredictorLogic

    import_module = time.perf_counter() - t_import
    logic = ALNPredictorLogic(headless_context(new_scene=True).scene)
    nodes = {seq: logic.loadVolume(str(folder / f"{seq}.nrrd"), seq) for seq in ("T1C", "T2", "ADC")}
    seg = logic.loadLabelAsSegmentation(str(folder / "mask_T.nrrd"), nodes["T1C"], {1: "tumor"})
    import SimpleITK as sitk

    logic.setSegmentFromArray(seg, "nodes", sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "mask_L.nrrd"))),
                              nodes["T1C"])
    before = set(sys.modules)
    t0 = time.perf_counter()
    propagated = logic.propagateSegmentation(seg, nodes["T1C"], [nodes["T2"], nodes["ADC"]])
    propagate_seconds = time.perf_counter() - t0
    steps: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    result = logic.predictMRI(nodes["T1C"], nodes["T2"], nodes["ADC"], seg, str(folder / "bench.alnmodel"),
                              {"age": 61}, cacheDir=str(folder / "n4"),
                              propagatedNodes={"T2": propagated[0][0], "ADC": propagated[1][0]},
                              progress=lambda f, m: steps.append((time.perf_counter() - t0, m)))
    total = time.perf_counter() - t0
    t1 = time.perf_counter()
    logic.predictMRI(nodes["T1C"], nodes["T2"], nodes["ADC"], seg, str(folder / "bench.alnmodel"), {"age": 61},
                     cacheDir=str(folder / "n4"))
    unpropagated = time.perf_counter() - t1
    parts, last, label = {}, 0.0, "start"
    for t, message in steps:  # the time between two messages belongs to the step the first one announced
        parts[label] = round(t - last, 3)
        last, label = t, message
    parts.pop("start", None)
    # the propagated masks, for the reference extraction
    import slicer

    for node in slicer.util.getNodesByClass("vtkMRMLSegmentationNode", logic.scene):
        name = node.GetName()
        for seq in ("T2", "ADC"):
            if name.endswith(f"→ {seq}"):
                for structure, roi in (("tumor", "T"), ("nodes", "L")):
                    mask = logic.maskImageFromSegment(node, structure, nodes[seq])
                    sitk.WriteImage(mask, str(folder / f"prop_{roi}_{seq}.nrrd"), True)
    return {"click_to_probability_seconds": round(total, 3), "parts": parts,
            "propagate_click_seconds": round(propagate_seconds, 3),
            "predict_without_prior_propagate_seconds": round(unpropagated, 3),
            "registration": [q for _, q in propagated],
            "module_import_seconds": round(import_module, 3),
            "modules_imported_by_the_click": len(set(sys.modules) - before),
            "probability": result["prediction"]["probability"], "n_features": len(result["features"])}


def _child_plain(folder: Path) -> dict:
    import logging

    import SimpleITK as sitk
    from radiomics import featureextractor

    from alnpredictor.features.params import load_params
    from alnpredictor.imaging.preprocess import n4_correct
    from alnpredictor.settings import MRI_PARAMS

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    images = {seq: n4_correct(sitk.ReadImage(str(folder / f"{seq}.nrrd")), cache_dir=folder / "n4")
              for seq in ("T1C", "T2", "ADC")}
    masks = {(roi, "T1C"): sitk.ReadImage(str(folder / f"mask_{roi}.nrrd")) for roi in ("T", "L")}
    masks.update({(roi, seq): sitk.ReadImage(str(folder / f"prop_{roi}_{seq}.nrrd"))
                  for roi in ("T", "L") for seq in ("T2", "ADC")})
    path = str(load_params(MRI_PARAMS).path)
    t0 = time.perf_counter()
    for (_roi, seq), mask in masks.items():
        featureextractor.RadiomicsFeatureExtractor(path).execute(images[seq], mask)
    return {"seconds": round(time.perf_counter() - t0, 3)}


def _spawn(variant: str, folder: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "bench.bench_panel", variant, str(folder)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"bench child '{variant}' failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(results: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        _prepare(folder)
        print(f"   study, N4 cache and model bundle ready ({time.perf_counter() - t0:.0f} s, not timed)", flush=True)
        panel = _spawn("panel", folder)
        plain = _spawn("plain", folder)
    ratio = plain["seconds"] / panel["click_to_probability_seconds"]
    results["panel_predict"] = {"panel": panel, "plain_extraction": plain, "ratio_plain_over_panel": ratio,
                                "target_seconds": TARGET_SECONDS, "cpus": os.cpu_count()}
    print(f"   Propagate click (registration of T2 and ADC): {panel['propagate_click_seconds']:.2f} s")
    print(f"   Predict click → probability: {panel['click_to_probability_seconds']:.2f} s "
          f"(target ≤ {TARGET_SECONDS:.0f} s on 2 cores; first Predict: model load and imports included)")
    for message, seconds in panel["parts"].items():
        print(f"     {seconds:7.2f} s  {message}")
    print(f"   Predict without a prior Propagate (registers itself; second click): "
          f"{panel['predict_without_prior_propagate_seconds']:.2f} s")
    print(f"   plain SlicerRadiomics-style extraction of the same 6 ROI×sequence pairs alone: {plain['seconds']:.2f} s "
          f"→ {ratio:.1f}× the whole click")


if __name__ == "__main__":
    variant, folder = sys.argv[1], Path(sys.argv[2])
    out = _child_panel(folder) if variant == "panel" else _child_plain(folder)
    print(json.dumps(out))
