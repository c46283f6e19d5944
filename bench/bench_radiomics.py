"""Radiomics benchmark: plain PyRadiomics vs our exact cropped parallel extraction, same study.

The study is the realistic synthetic MRI patient of ``alnpredictor.synthetic.mri_study`` (T1C
448×448×160, T2 512×512×60, ADC 224×224×40, float32 as after N4; tumour and node ROIs on every
sequence), written once to NRRD files. Every variant then runs in its own fresh Python process
that reads those files, so each process's peak memory (``ru_maxrss``) is its own:

* ``plain`` — ``RadiomicsFeatureExtractor("mri-yu2021.yaml").execute(image, mask)`` for the 6
  ROI×sequence pairs one after another, as SlicerRadiomics runs them;
* ``ours`` — ``extract_case(..., workers=2)``: first call (cold: starts the worker pool) and the
  median of three further calls (warm: what every further patient of a cohort costs); each worker
  reports its own peak resident memory; then ``workers=1`` (everything in one process).

Timings exclude reading the files (identical for both). Both variants' 5,106 values are compared.
ICC: our vectorised ICC(3,1)+ICC(2,1) vs pingouin's ``intraclass_corr`` per feature.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alnpredictor.settings import MRI_PARAMS

ROOT = Path(__file__).resolve().parents[1]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _load(folder: Path):
    import SimpleITK as sitk

    from alnpredictor.study import mri_sequences, roi_codes

    images = {seq: sitk.ReadImage(str(folder / f"{seq}.nrrd")) for seq in mri_sequences()}
    masks = {(roi, seq): sitk.ReadImage(str(folder / f"mask_{roi}_{seq}.nrrd"))
             for roi in roi_codes() for seq in mri_sequences()}
    return images, masks


def _child_plain(folder: Path, out: Path) -> dict:
    import logging

    import numpy as np
    from radiomics import featureextractor

    from alnpredictor.features.params import load_params
    from alnpredictor.study import feature_name

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    images, masks = _load(folder)
    loaded_mb = _peak_mb()
    path = str(load_params(MRI_PARAMS).path)
    t0, c0 = time.perf_counter(), time.process_time()
    values = {}
    for (roi, seq), mask in masks.items():
        result = featureextractor.RadiomicsFeatureExtractor(path).execute(images[seq], mask)
        values.update({feature_name(roi, seq, k): float(np.real(v)) for k, v in result.items()
                       if not k.startswith("diagnostics_")})
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    out.write_text(json.dumps(values))
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_mb": _peak_mb(), "after_loading_mb": loaded_mb}


def _child_ours(folder: Path, out: Path) -> dict:
    from alnpredictor.features.radiomics import extract_case, shutdown_workers

    images, masks = _load(folder)
    loaded_mb = _peak_mb()
    t0 = time.perf_counter()
    first = extract_case(images, masks, MRI_PARAMS, workers=2)
    cold = time.perf_counter() - t0
    warm, cpu, worker_peak = [], [], 0.0
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        res = extract_case(images, masks, MRI_PARAMS, workers=2)
        warm.append(time.perf_counter() - t0)
        # CPU of this process (cropping, whole-image diagnostics) + CPU of every extraction in the workers
        cpu.append(time.process_time() - c0 + sum(d["alnpredictor_cpu_seconds"] for d in res.diagnostics.values()))
        worker_peak = max(worker_peak, *(d["alnpredictor_process_peak_rss_mb"] for d in res.diagnostics.values()))
    shutdown_workers()
    single = []
    for _ in range(2):
        t0 = time.perf_counter()
        extract_case(images, masks, MRI_PARAMS, workers=1)
        single.append(time.perf_counter() - t0)
    out.write_text(json.dumps(first.features))
    return {"cold_seconds": cold, "warm_seconds": statistics.median(warm), "warm_runs": warm,
            "cpu_seconds": statistics.median(cpu),
            "single_process_seconds": min(single), "parent_peak_mb": _peak_mb(), "after_loading_mb": loaded_mb,
            "worker_peak_mb": worker_peak,
            "crop_shapes": {b: d["alnpredictor_crop_shape_zyx"] for b, d in first.diagnostics.items()}}


def _spawn(variant: str, folder: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "bench.bench_radiomics", variant, str(folder), str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"bench child '{variant}' failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _bench_icc() -> dict:
    import numpy as np
    import pandas as pd
    import pingouin as pg

    from alnpredictor.stats.icc import icc

    rng = np.random.default_rng(0)
    n, k, p, p_ref = 60, 4, 5106, 40
    cube = rng.normal(0, 1, (n, 1, p)) + rng.normal(0, 0.5, (n, k, p))
    t0 = time.perf_counter()
    table = icc(cube)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for j in range(p_ref):
        long = pd.DataFrame({"s": np.repeat(np.arange(n), k), "r": np.tile(np.arange(k), n), "v": cube[:, :, j].ravel()})
        ref = pg.intraclass_corr(long, targets="s", raters="r", ratings="v").set_index("Type")
        assert abs(ref.loc["ICC(C,1)", "ICC"] - table["icc3_1"].iloc[j]) < 1e-9
    per_feature_ref = (time.perf_counter() - t0) / p_ref
    return {"features": p, "subjects": n, "raters": k, "ours_seconds": ours,
            "pingouin_seconds_estimated": per_feature_ref * p, "ratio": per_feature_ref * p / ours}


def run(results: dict) -> None:
    """``make bench`` entry point."""
    import SimpleITK as sitk

    from alnpredictor.synthetic.mri_study import make_study

    with tempfile.TemporaryDirectory(prefix="aln-bench-radiomics-") as tmp:
        folder = Path(tmp)
        study = make_study(scale=1.0, seed=0)
        for seq, image in study.images.items():
            sitk.WriteImage(image, str(folder / f"{seq}.nrrd"))
        for (roi, seq), mask in study.masks.items():
            sitk.WriteImage(mask, str(folder / f"mask_{roi}_{seq}.nrrd"))
        sizes = {seq: list(img.GetSize()) for seq, img in study.images.items()}
        del study
        load_before = os.getloadavg()[0]
        plain = _spawn("plain", folder, folder / "plain.json")
        ours = _spawn("ours", folder, folder / "ours.json")
        load_after = os.getloadavg()[0]
        a = json.loads((folder / "plain.json").read_text())
        b = json.loads((folder / "ours.json").read_text())
    same = sum(1 for key in a if key in b and (a[key] == b[key] or (a[key] != a[key] and b[key] != b[key])))
    ours_peak = max(ours["parent_peak_mb"], ours["worker_peak_mb"])
    out = {
        "cores": os.cpu_count(),
        "load_average_1min": [load_before, load_after],
        "sizes": sizes,
        "values_compared": len(a),
        "values_identical": same,
        "plain_seconds": plain["seconds"],
        "plain_cpu_seconds": plain["cpu_seconds"],
        "plain_peak_mb": plain["peak_mb"],
        "plain_after_loading_mb": plain["after_loading_mb"],
        "ours_cpu_seconds": ours["cpu_seconds"],
        "ours_warm_seconds": ours["warm_seconds"],
        "ours_cold_seconds": ours["cold_seconds"],
        "ours_single_process_seconds": ours["single_process_seconds"],
        "ours_parent_peak_mb": ours["parent_peak_mb"],
        "ours_worker_peak_mb": ours["worker_peak_mb"],
        "images_in_memory_mb": ours["after_loading_mb"],
        "speedup_warm": plain["seconds"] / ours["warm_seconds"],
        "speedup_cold": plain["seconds"] / ours["cold_seconds"],
        "speedup_single_process": plain["seconds"] / ours["single_process_seconds"],
        "speedup_cpu": plain["cpu_seconds"] / ours["cpu_seconds"],
        "memory_ratio": plain["peak_mb"] / ours_peak,
        "crop_shapes_zyx": ours["crop_shapes"],
    }
    out["icc"] = _bench_icc()
    results["radiomics"] = out
    print(f"  study: T1C {sizes['T1C']}, T2 {sizes['T2']}, ADC {sizes['ADC']}; 6 ROI x sequence extractions; "
          f"{os.cpu_count()} cores; 1-min load average {load_before:.1f} before, {load_after:.1f} after")
    print(f"  identical values: {same}/{len(a)}")
    print(f"  plain PyRadiomics  : {plain['seconds']:7.2f} s wall, {plain['cpu_seconds']:7.2f} s CPU, "
          f"peak {plain['peak_mb']:5.0f} MB (one process; {plain['after_loading_mb']:.0f} MB after loading the study)")
    print(f"  ours, warm pool    : {ours['warm_seconds']:7.2f} s wall, {ours['cpu_seconds']:7.2f} s CPU "
          f"(all processes)  ratio {out['speedup_warm']:5.1f}x wall, {out['speedup_cpu']:5.1f}x CPU")
    print(f"  ours, cold (+pool) : {ours['cold_seconds']:7.2f} s wall  ratio {out['speedup_cold']:5.1f}x")
    print(f"  ours, one process  : {ours['single_process_seconds']:7.2f} s wall  ratio "
          f"{out['speedup_single_process']:5.1f}x")
    print(f"  ours peak memory   : {ours['worker_peak_mb']:.0f} MB per worker process; parent {ours['parent_peak_mb']:.0f} MB, "
          f"reached while reading the study ({ours['after_loading_mb']:.0f} MB after loading); plain/ours peak "
          f"{out['memory_ratio']:.1f}x")
    icc = out["icc"]
    print(f"  ICC of {icc['features']} features ({icc['subjects']} subjects x {icc['raters']} raters): ours "
          f"{icc['ours_seconds']:.3f} s vs pingouin ~{icc['pingouin_seconds_estimated']:.1f} s "
          f"(ratio {icc['ratio']:.0f}x)")


if __name__ == "__main__":
    variant, folder, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    fn = {"plain": _child_plain, "ours": _child_ours}[variant]
    print(json.dumps(fn(folder, out)))
