"""Cohort runner: resumable after SIGKILL, bad cases recorded and skipped, Dask == local pool.

Real pipeline on small synthetic MRI patients (real grow-cut, registration, N4 and PyRadiomics;
original features only, to keep the suite fast — wavelets are exercised by the radiomics tests and
the demo). Registration and N4 are multi-threaded in ITK: equal features across runs with other
worker counts and executors show the runner pins the thread count per case.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alnpredictor.cohort.manifest import case_key
from alnpredictor.cohort.runner import run_cohort
from alnpredictor.pathways import mri
from alnpredictor.settings import MRISettings
from alnpredictor.synthetic.mri_cohort import make_cohort, write_patients

pytestmark = pytest.mark.slow  # real registration/N4, a process pool, SIGKILL and Dask

SETTINGS = MRISettings(params="pyradiomics-baseline", n4=True, register=True, on_roi_error="nan")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cohort")
    patients = list(make_cohort(seed=3, sizes={"A": 6}))
    manifest = write_patients(patients, folder, masks=True)
    # one case is given by seeds (segmented in the worker), as a user would
    df = pd.read_csv(manifest)
    p = patients[0]
    df.loc[0, ["mask_tumor", "mask_nodes"]] = ""
    df["seeds_tumor"] = ""
    df["seeds_nodes"] = ""
    df.loc[0, "seeds_tumor"] = ";".join(",".join(f"{v:.2f}" for v in pt) for pt in p.seeds_ras["tumor"])
    df.loc[0, "seeds_nodes"] = ";".join(",".join(f"{v:.2f}" for v in pt) for pt in p.seeds_ras["nodes"])
    df.to_csv(manifest, index=False)
    return manifest


@pytest.fixture(scope="module")
def clean_run(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    res = run_cohort(cohort, out, mri.process_case, SETTINGS, workers=2, progress=False)
    assert res.failed == 0, (out / "failures.csv").read_text()
    return res


def test_clean_run_writes_one_shard_per_case_without_identifiers_in_names(clean_run, cohort):
    df = pd.read_csv(clean_run.features_csv)
    assert len(df) == 6 and list(df["case_id"]) == [f"A{i:03d}" for i in range(1, 7)]
    feats = [c for c in df.columns if c.startswith(("TT1C_", "LADC_"))]
    assert len(feats) > 100 and df[feats].notna().all().all()
    names = [p.name for p in (clean_run.out_dir / "shards").iterdir()]
    assert len(names) == 6 and not any("A00" in n for n in names)
    run = json.loads((clean_run.out_dir / "run.json").read_text())
    assert run["done"] == 6 and run["peak_worker_rss_mb"] > 50


def test_sigkill_then_resume_equals_clean_run(cohort, clean_run, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "alnpredictor", "extract", "--manifest", str(cohort), "--out", str(out),
           "--workers", "1", "--params", "pyradiomics-baseline", "--on-roi-error", "nan", "--no-progress"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    shards = out / "shards"
    deadline = time.time() + 240
    while time.time() < deadline and (not shards.is_dir() or len(list(shards.glob("*.json"))) < 2):
        if proc.poll() is not None:
            pytest.fail(f"run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its workers, at once
    proc.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in shards.glob("*.json")}
    assert 2 <= len(finished) < 6

    resumed = run_cohort(cohort, out, mri.process_case, SETTINGS, workers=1, progress=False)
    # nothing finished was recomputed
    assert {p.name: p.stat().st_mtime_ns for p in shards.glob("*.json") if p.name in finished} == finished
    assert len(resumed.computed) == 6 - len(finished) and resumed.skipped == len(finished)
    a = pd.read_csv(resumed.features_csv)
    b = pd.read_csv(clean_run.features_csv)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_corrupt_and_missing_files_are_recorded_and_others_finish(cohort, tmp_path):
    df = pd.read_csv(cohort)
    base = cohort.parent
    corrupt = tmp_path / "corrupt.nrrd"
    corrupt.write_bytes(b"NRRD0004\ntype: float\ndimension: 3\nsizes: 10 10\n\ngarbage")
    df["image_T1C"] = [str(base / p) for p in df["image_T1C"]]
    for col in ("image_T2", "image_ADC", "mask_tumor", "mask_nodes"):
        df[col] = [str(base / p) if isinstance(p, str) and p else p for p in df[col]]
    df.loc[2, "image_T2"] = str(corrupt)
    df.loc[4, "image_ADC"] = str(tmp_path / "no-such-file.nrrd")
    manifest = tmp_path / "m.csv"
    df.to_csv(manifest, index=False)
    res = run_cohort(manifest, tmp_path / "out", mri.process_case, SETTINGS, workers=2, progress=False)
    failures = pd.read_csv(res.failures_csv)
    assert set(failures["case_id"]) == {"A003", "A005"}
    reasons = dict(zip(failures["case_id"], failures["error"]))
    assert "corrupt.nrrd" in reasons["A003"] and "no-such-file.nrrd" in reasons["A005"]
    assert list(pd.read_csv(res.features_csv)["case_id"]) == ["A001", "A002", "A004", "A006"]
    # a rerun does not retry failures unless asked, and keeps them recorded
    again = run_cohort(manifest, tmp_path / "out", mri.process_case, SETTINGS, workers=1, progress=False)
    assert again.computed == [] and again.failed == 2
    assert not any("A00" in p.name for p in (tmp_path / "out" / "failures").iterdir())


def test_dask_local_cluster_gives_the_same_features(cohort, clean_run, tmp_path):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        res = run_cohort(cohort, tmp_path / "dask", mri.process_case, SETTINGS, dask=client, progress=False)
    a = pd.read_csv(res.features_csv)
    b = pd.read_csv(clean_run.features_csv)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert case_key("A001") != "A001" and np.all(a["case_id"] == b["case_id"])
