"""Cohort runner faults (issue 14): resume never reuses a stale result, a dead worker fails only its
case, a killed or interrupted run leaves nothing behind and resumes to the same table.

Everything runs the real ``alnpredictor extract`` on tiny real images (32×32×10 voxels, the
``pyradiomics-baseline`` parameter file, no registration): seconds per run. N4 is left on only where
a case must last long enough to be killed mid-way (about a second per case).
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
import psutil
import pytest
import SimpleITK as sitk
from bad_inputs import run_cli

pytestmark = pytest.mark.slow  # worker processes are spawned: seconds per run

FAST = ["--params", "pyradiomics-baseline", "--no-register", "--no-progress"]


def tiny_cohort(folder: Path, n: int = 3, border: bool = False) -> Path:
    """``n`` tiny MRI cases (T1C, T2, ADC on one 32×32×10 grid, a tumor and a node mask) and their
    manifest (relative paths, age and label columns). ``border``: the tumor touches the image edge."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        rng = np.random.default_rng(i)
        cid = f"P{i + 1}"
        tumor = np.zeros((10, 32, 32), np.uint8)
        nodes = np.zeros_like(tumor)
        if border:
            tumor[2:8, 0:10, 0:10] = 1
        else:
            tumor[2:8, 8:18, 8:18] = 1
        nodes[3:7, 20:27, 20:28] = 1
        row: dict = {"case_id": cid, "age": 50 + i, "label": i % 2}
        for seq, gain in (("T1C", 1.0), ("T2", 0.7), ("ADC", 1.6)):
            arr = rng.normal(100 * gain, 10, tumor.shape) + 80 * gain * tumor + 40 * gain * nodes * rng.random(tumor.shape)
            img = sitk.GetImageFromArray(arr.astype(np.float32))
            img.SetSpacing((1.0, 1.0, 2.0))
            sitk.WriteImage(img, str(folder / f"{cid}_{seq}.nrrd"))
            row[f"image_{seq}"] = f"{cid}_{seq}.nrrd"
        for name, m in (("tumor", tumor), ("nodes", nodes)):
            im = sitk.GetImageFromArray(m)
            im.SetSpacing((1.0, 1.0, 2.0))
            sitk.WriteImage(im, str(folder / f"{cid}_{name}.nrrd"))
            row[f"mask_{name}"] = f"{cid}_{name}.nrrd"
        rows.append(row)
    manifest = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def extract(capsys, manifest: Path, out: Path, *extra: str) -> tuple[int, dict]:
    """``alnpredictor extract --manifest`` in this process; (exit code, run.json)."""
    res = run_cli(["extract", "--manifest", manifest, "--out", out, *FAST, *extra], capsys)
    assert "Traceback" not in res.err, res.err
    return res.rc, json.loads((out / "run.json").read_text())


@pytest.fixture()
def cohort(tmp_path) -> Path:
    return tiny_cohort(tmp_path / "cohort")


# ------------------------------------------------------------------ resume: never stale
def _change_params(manifest: Path, tmp: Path) -> list[str]:
    from alnpredictor.features.params import resolve_params_path

    params = tmp / "params.yaml"
    params.write_text(resolve_params_path("pyradiomics-baseline").read_text())
    return ["--params", str(params)]


CHANGES = {
    # name: (change the inputs in place -> extra CLI options of the rerun, cases recomputed, reason in run.json)
    "settings --no-n4 -> N4": (lambda m, t: [], 3, "settings"),
    "age edited": (lambda m, t: _edit(m, 0, "age", 71) or [], 1, "manifest row"),
    "label edited": (lambda m, t: _edit(m, 0, "label", 1) or [], 1, "manifest row"),
    "image path changed": (lambda m, t: _edit(m, 2, "image_T2", "P1_T2.nrrd") or [], 1, "manifest row"),
    "image rewritten in place": (lambda m, t: _rewrite(m.parent / "P2_ADC.nrrd") or [], 1, "input files (size or time)"),
}


def _edit(manifest: Path, row: int, column: str, value) -> None:
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    df.loc[row, column] = str(value)
    df.to_csv(manifest, index=False)


def _rewrite(path: Path) -> None:
    img = sitk.ReadImage(str(path))
    sitk.WriteImage(img * 1.5, str(path))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a time that differs on any file system


@pytest.mark.parametrize("change", list(CHANGES))
def test_resume_after_a_change_equals_a_fresh_run(change, cohort, tmp_path, capsys):
    """Run, change one thing, rerun in the same folder: the table is the one a fresh run gives for the
    new state (recomputed, never stale), and run.json counts the recomputed cases and why."""
    alter, n_recomputed, reason = CHANGES[change]
    out = tmp_path / "run"
    first = ["--no-n4"]
    assert extract(capsys, cohort, out, *first)[0] == 0
    before = (out / "features.csv").read_bytes()
    again = [] if change.startswith("settings") else first
    extra = alter(cohort, tmp_path) + again
    rc, run = extract(capsys, cohort, out, *extra)
    assert rc == 0 and run["recomputed_changed"] == n_recomputed
    assert run["recomputed_reasons"].get(reason) == n_recomputed, run["recomputed_reasons"]
    assert run["skipped_this_run"] == 3 - n_recomputed
    fresh = tmp_path / "fresh"
    assert extract(capsys, cohort, fresh, *extra)[0] == 0
    resumed_table = (out / "features.csv").read_bytes()
    assert resumed_table == (fresh / "features.csv").read_bytes()
    assert resumed_table != before


def test_identical_rerun_reuses_everything_and_an_edited_parameter_file_recomputes(cohort, tmp_path, capsys):
    out = tmp_path / "run"
    params = _change_params(cohort, tmp_path)
    assert extract(capsys, cohort, out, "--no-n4", *params)[0] == 0
    before = (out / "features.csv").read_bytes()
    rc, run = extract(capsys, cohort, out, "--no-n4", *params)
    assert rc == 0 and run["skipped_this_run"] == 3 and run["computed_this_run"] == 0
    assert (out / "features.csv").read_bytes() == before
    # the same file name, other content (a coarser bin width): every case recomputed
    path = Path(params[1])
    path.write_text(path.read_text().replace("binWidth: 25", "binWidth: 50"))
    assert "binWidth: 50" in path.read_text()
    rc, run = extract(capsys, cohort, out, "--no-n4", *params)
    assert rc == 0 and run["recomputed_reasons"] == {"parameter/weights file": 3}
    assert (out / "features.csv").read_bytes() != before


def test_missing_image_fails_the_case_and_drops_its_old_features(cohort, tmp_path, capsys):
    out = tmp_path / "run"
    assert extract(capsys, cohort, out, "--no-n4")[0] == 0
    (cohort.parent / "P2_T2.nrrd").unlink()
    rc, run = extract(capsys, cohort, out, "--no-n4")
    assert rc == 1 and run["done"] == 2 and run["failed"] == 1
    assert list(pd.read_csv(out / "features.csv")["case_id"]) == ["P1", "P3"]
    failures = pd.read_csv(out / "failures.csv")
    assert list(failures["case_id"]) == ["P2"] and "P2_T2.nrrd" in failures["error"][0]


def test_hash_inputs_ignores_a_touched_file_that_size_and_time_would_not(cohort, tmp_path, capsys):
    out = tmp_path / "run"
    assert extract(capsys, cohort, out, "--no-n4", "--hash-inputs")[0] == 0
    os.utime(cohort.parent / "P1_T1C.nrrd", ns=(time.time_ns(), time.time_ns() + 10**9))
    rc, run = extract(capsys, cohort, out, "--no-n4", "--hash-inputs")
    assert rc == 0 and run["recomputed_changed"] == 0 and run["skipped_this_run"] == 3
    rc, run = extract(capsys, cohort, out, "--no-n4")
    assert rc == 0 and run["recomputed_reasons"] == {"input files (size or time)": 1}


def test_allow_border_on_a_rerun_retries_the_cases_it_failed(tmp_path, capsys):
    """The border error tells the user to pass --allow-border: a rerun with it retries those cases
    (their settings changed) instead of keeping the old failures."""
    manifest = tiny_cohort(tmp_path / "c", n=2, border=True)
    out = tmp_path / "run"
    rc, run = extract(capsys, manifest, out, "--no-n4")
    assert rc == 1 and run["failed"] == 2
    assert "--allow-border" in pd.read_csv(out / "failures.csv")["error"][0]
    rc, run = extract(capsys, manifest, out, "--no-n4", "--allow-border")
    assert rc == 0 and run["done"] == 2 and run["settings"]["allow_border"] is True


def test_run_folder_names_are_salted_per_folder(cohort, tmp_path, capsys):
    from alnpredictor.cohort.manifest import case_key

    a, b = tmp_path / "a", tmp_path / "b"
    extract(capsys, cohort, a, "--no-n4")
    extract(capsys, cohort, b, "--no-n4")
    names_a = {p.name for p in (a / "shards").glob("*.json")}
    names_b = {p.name for p in (b / "shards").glob("*.json")}
    assert len(names_a) == 3 and not names_a & names_b
    assert not names_a & {f"{case_key(c)}.json" for c in ("P1", "P2", "P3")}  # not the unsalted hash
    assert json.loads((a / "run.json").read_text())["salt"]


# ------------------------------------------------------------------ processes: kill, interrupt
def _cli(manifest: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "alnpredictor", "extract", "--manifest", str(manifest), "--out", str(out), *FAST,
            *extra]


def _wait_for_shards(proc: subprocess.Popen, out: Path, n: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(list((out / "shards").glob("*.json"))) >= n if (out / "shards").is_dir() else False:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be killed:\n{proc.stderr.read().decode()[-3000:]}")
        time.sleep(0.05)
    pytest.fail("no shard appeared in time")


def _workers_of(pid: int) -> list[psutil.Process]:
    return [c for c in psutil.Process(pid).children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())]


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture()
def slow_cohort(tmp_path) -> Path:
    """Four tiny cases with N4 on: about a second each, long enough to be killed mid-case."""
    return tiny_cohort(tmp_path / "slow", n=4)


def test_a_killed_worker_fails_only_its_case_and_a_rerun_completes_it(slow_cohort, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(_cli(slow_cohort, out, "--workers", "1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_shards(proc, out, 1)
    workers = _workers_of(proc.pid)
    assert len(workers) == 1, workers
    workers[0].send_signal(signal.SIGKILL)  # what the OOM killer does
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, err.decode()[-3000:]
    assert b"Traceback" not in err and b"KeyError" not in err
    failures = pd.read_csv(out / "failures.csv")
    assert len(failures) == 1 and failures["error_type"][0] == "WorkerDied"
    assert "worker died" in failures["error"][0] and "out of memory" in failures["error"][0]
    run = json.loads((out / "run.json").read_text())
    assert run["worker_deaths"] == 1 and run["done"] == 3 and run["status"] == "finished"
    died = failures["case_id"][0]
    # the rerun retries it without --retry-failed, and recomputes nothing else
    again = subprocess.run(_cli(slow_cohort, out), capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["computed_this_run"] == 1 and run["skipped_this_run"] == 3 and run["failed"] == 0
    assert died in set(pd.read_csv(out / "features.csv")["case_id"])


def test_sigkill_of_the_run_leaves_no_process_and_the_rerun_equals_an_uninterrupted_run(slow_cohort, tmp_path):
    clean = tmp_path / "clean"
    done = subprocess.run(_cli(slow_cohort, clean, "--workers", "2"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(slow_cohort, out, "--workers", "2"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _wait_for_shards(proc, out, 1)
    family = psutil.Process(proc.pid).children(recursive=True)  # workers and the resource tracker
    assert len(family) >= 2
    proc.send_signal(signal.SIGKILL)  # the main process only
    proc.wait()
    deadline = time.time() + 10
    while _alive(family) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(family), [p.cmdline() for p in _alive(family)]
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("*.json")}
    assert 1 <= len(kept) < 4

    again = subprocess.run(_cli(slow_cohort, out, "--workers", "2"), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("*.json") if p.name in kept} == kept
    assert (out / "features.csv").read_bytes() == (clean / "features.csv").read_bytes()


def test_ctrl_c_exits_130_with_one_line_and_the_rerun_resumes(slow_cohort, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(_cli(slow_cohort, out, "--workers", "2"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    _wait_for_shards(proc, out, 1)
    family = psutil.Process(proc.pid).children(recursive=True)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends: the whole process group
    _, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 130, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    last = text.strip().splitlines()[-1]
    assert last.startswith("alnpredictor extract: interrupted;") and "kept, rerun to resume" in last, last
    deadline = time.time() + 10
    while _alive(family) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(family)
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    again = subprocess.run(_cli(slow_cohort, out, "--workers", "2"), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(pd.read_csv(out / "features.csv")) == 4


def test_allow_border_works_for_the_ultrasound_pathway(tmp_path):
    """--allow-border reaches the ultrasound PyRadiomics texture (it was not passed on), and the rerun
    with it retries the frame that failed without it."""
    yy, xx = np.mgrid[0:96, 0:96]
    lesion = (((yy - 48) / 20.0) ** 2 + ((xx - 10) / 14.0) ** 2) <= 1  # cut by the left edge
    arr = np.random.default_rng(0).normal(120, 20, (96, 96)) - 70 * lesion
    for name, a in (("u1.nrrd", arr.astype(np.float32)), ("u1-mask.nrrd", lesion.astype(np.uint8))):
        img = sitk.GetImageFromArray(a)
        img.SetSpacing((0.1, 0.1))
        sitk.WriteImage(img, str(tmp_path / name))
    (tmp_path / "m.csv").write_text("case_id,image,mask\nU1,u1.nrrd,u1-mask.nrrd\n")
    cmd = [sys.executable, "-m", "alnpredictor", "extract", "--pathway", "us", "--manifest", str(tmp_path / "m.csv"),
           "--out", str(tmp_path / "f.csv"), "--no-progress"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 1 and "--allow-border" in pd.read_csv(tmp_path / "f.failures.csv")["error"][0]
    again = subprocess.run([*cmd, "--allow-border"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert pd.read_csv(tmp_path / "f.csv")["US_original_glcm_Contrast"].notna().all()


def dies_on_p2(case: dict, settings) -> dict:
    """The MRI pathway, except that case P2 kills its own worker (as the OOM killer would)."""
    from alnpredictor.pathways import mri

    if case["case_id"] == "P2":
        time.sleep(0.5)  # let the other worker be mid-case: it must not be blamed
        os.kill(os.getpid(), signal.SIGKILL)
    return mri.process_case(case, settings)


def test_a_case_that_kills_its_worker_twice_is_not_retried_again(cohort, tmp_path):
    from alnpredictor.cohort.runner import run_cohort
    from alnpredictor.settings import MRISettings

    settings = MRISettings(params="pyradiomics-baseline", n4=False, register=False)
    out = tmp_path / "run"
    first = run_cohort(cohort, out, dies_on_p2, settings, workers=2, progress=False)
    assert (first.done, first.failed, first.worker_deaths) == (2, 1, 1)
    failure = pd.read_csv(first.failures_csv)
    assert list(failure["case_id"]) == ["P2"] and "killed by SIGKILL" in failure["error"][0]
    second = run_cohort(cohort, out, dies_on_p2, settings, workers=2, progress=False)  # retried once by itself
    assert second.computed == [] and second.worker_deaths == 1 and second.skipped == 2
    third = run_cohort(cohort, out, dies_on_p2, settings, workers=2, progress=False)  # died twice: kept failed
    assert third.worker_deaths == 0 and third.failed == 1 and third.skipped == 3
    fourth = run_cohort(cohort, out, mri_process_case(), settings, workers=1, progress=False, retry_failed=True)
    assert fourth.computed == ["P2"] and fourth.failed == 0


def mri_process_case():
    from alnpredictor.pathways import mri

    return mri.process_case


def _big_case(folder: Path) -> Path:
    """A 160×160×40 case folder: its six extractions keep the radiomics pool busy for seconds."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    shape = (40, 160, 160)
    tumor = np.zeros(shape, np.uint8)
    tumor[10:30, 40:100, 40:100] = 1
    nodes = np.zeros(shape, np.uint8)
    nodes[12:28, 110:140, 110:140] = 1
    for seq, gain in (("T1C", 1.0), ("T2", 0.7), ("ADC", 1.5)):
        arr = rng.normal(100 * gain, 10, shape) + 80 * gain * tumor + 30 * gain * nodes * rng.random(shape)
        sitk.WriteImage(sitk.GetImageFromArray(arr.astype(np.float32)), str(folder / f"{seq}.nrrd"))
    for name, m in (("tumor", tumor), ("nodes", nodes)):
        sitk.WriteImage(sitk.GetImageFromArray(m), str(folder / f"mask_{name}.nrrd"))
    return folder


def _start_case_dir_with_pool(case: Path, out: Path) -> tuple[subprocess.Popen, list[psutil.Process]]:
    """``extract --case-dir`` with two radiomics workers, once its pool is up and busy."""
    proc = subprocess.Popen([sys.executable, "-m", "alnpredictor", "extract", "--case-dir", str(case), "--out",
                             str(out / "f.csv"), "--workers", "2", "--n4", "--no-register", "--params", "mri-yu2021"],
                            stderr=subprocess.PIPE, start_new_session=True)
    family: list[psutil.Process] = []
    deadline = time.time() + 120
    while not any("forkserver" in " ".join(p.cmdline()) for p in _alive(family)) and time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"finished before the pool started:\n{proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
        family = psutil.Process(proc.pid).children(recursive=True)
    time.sleep(1.0)
    return proc, psutil.Process(proc.pid).children(recursive=True)


def _none_left(family: list[psutil.Process], within: float = 10) -> None:
    deadline = time.time() + within
    while _alive(family) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(family), [p.cmdline()[-1][:80] for p in _alive(family)]


def test_ctrl_c_in_a_one_case_extraction_exits_130_writes_nothing_and_stops_its_pool(tmp_path):
    """Every command: Ctrl-C is one line and exit 130; here while the radiomics pool (forkserver
    workers, which ignore SIGINT) runs the case's extractions — they are stopped, not waited for."""
    out = tmp_path / "out"
    out.mkdir()
    proc, family = _start_case_dir_with_pool(_big_case(tmp_path / "B"), out)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    text = err.decode()
    assert proc.returncode == 130, text[-3000:]
    assert "Traceback" not in text and text.strip().splitlines()[-1] == "alnpredictor extract: interrupted; nothing was changed"
    assert list(out.iterdir()) == []
    _none_left(family)


def test_sigkill_of_a_one_case_extraction_leaves_no_forkserver_or_worker(tmp_path):
    """The radiomics pool's workers are the forkserver's children and held its "alive" pipe, so the
    server and they outlived a killed run; now the server ends with the run and they with it."""
    out = tmp_path / "out"
    out.mkdir()
    proc, family = _start_case_dir_with_pool(_big_case(tmp_path / "B"), out)
    assert len(family) >= 3  # resource tracker, forkserver, workers
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _none_left(family)
