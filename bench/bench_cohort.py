"""Cohort benchmark: throughput of the resumable runner with 1 and 2 local workers (scaling
efficiency), a Dask ``LocalCluster`` against the local pool, and peak memory per worker.

One synthetic multi-centre cohort (``alnpredictor.synthetic.mri_cohort``, 8 patients, seeds as a
user would click them) runs through the full MRI pathway (grow-cut → registration → N4 →
PyRadiomics ``mri-yu2021``) three times into fresh folders; every run computes every case.
Reference for the scaling figure: the 1-worker run of the same cohort in this process.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd

from alnpredictor.settings import MRISettings

N_PATIENTS = 8

SETTINGS = MRISettings(on_roi_error="nan")


def _run(manifest: Path, out: Path, **kw) -> dict:
    from alnpredictor.cohort.runner import run_cohort
    from alnpredictor.pathways import mri

    t0 = time.perf_counter()
    res = run_cohort(manifest, out, mri.process_case, SETTINGS, progress=False, **kw)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "cases_per_min": 60 * res.done / seconds, "done": res.done, "failed": res.failed,
            "peak_worker_rss_mb": res.peak_worker_rss_mb, "features": pd.read_csv(res.features_csv)}


def run(results: dict) -> None:
    from distributed import Client, LocalCluster

    from alnpredictor.synthetic.mri_cohort import make_cohort, write_patients

    with tempfile.TemporaryDirectory(prefix="alnpredictor-bench-cohort-") as tmp:
        tmp = Path(tmp)
        manifest = write_patients(make_cohort(seed=21, sizes={"A": N_PATIENTS // 2, "B": N_PATIENTS // 2}), tmp / "data")
        one = _run(manifest, tmp / "w1", workers=1)
        two = _run(manifest, tmp / "w2", workers=2)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            dask = _run(manifest, tmp / "dask", dask=client)
    same = one["features"].equals(two["features"]) and one["features"].equals(dask["features"])
    speedup = one["seconds"] / two["seconds"]
    out = {
        "patients": N_PATIENTS,
        "workers_1": {k: v for k, v in one.items() if k != "features"},
        "workers_2": {k: v for k, v in two.items() if k != "features"},
        "dask_localcluster_2": {k: v for k, v in dask.items() if k != "features"},
        "speedup_2_vs_1": speedup,
        "scaling_efficiency": speedup / 2,
        "dask_vs_pool_time_ratio": dask["seconds"] / two["seconds"],
        "identical_features": bool(same),
    }
    results["cohort"] = out
    print(f"  full MRI pathway, {N_PATIENTS} synthetic patients (grow-cut, registration, N4, mri-yu2021 radiomics)")
    for name, r in (("1 worker", one), ("2 workers", two), ("Dask LocalCluster(2)", dask)):
        print(f"  {name:22s} {r['seconds']:7.1f} s  {r['cases_per_min']:5.1f} cases/min  "
              f"peak worker RSS {r['peak_worker_rss_mb']:6.0f} MB  failed {r['failed']}")
    print(f"  speed-up 2 vs 1 worker: {speedup:.2f}x (scaling efficiency {100 * speedup / 2:.0f}%); "
          f"Dask / local pool time: {out['dask_vs_pool_time_ratio']:.2f}; identical features: {same}")
