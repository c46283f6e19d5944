"""Bad-input catalogue, cohort part (issue 14): each row is a command as a user types it that used to
crash with a traceback, run silently with a wrong setting, or merge patients; now it exits 2 with one
``error:`` line naming the input and what to do, and leaves the output folder as it was.

Also here: a full disk under ``extract`` (a real tmpfs): exit 2, nothing partial, the rerun resumes.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import pytest
from bad_inputs import assert_refused, run_cli, snapshot
from test_cohort_faults import FAST, tiny_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return tiny_cohort(tmp_path_factory.mktemp("cohort"), n=2)


def _manifest(cohort: Path, tmp_path: Path, text: str) -> Path:
    path = cohort.parent / f"m-{tmp_path.name}.csv"
    path.write_text(text)
    return path


def _rows(cohort: Path, sep: str = ",") -> list[str]:
    return [sep.join(line.split(",")) for line in cohort.read_text().splitlines()]


def _whitespace_ids(cohort, tmp_path):
    header, p1, p2 = _rows(cohort)
    return ["--manifest", _manifest(cohort, tmp_path, "\n".join([header, p1, " " + p1.split(",", 1)[0] + ","
                                                                 + p2.split(",", 1)[1]]) + "\n")], ["P1", "duplicate"]


def _extra_field(cohort, tmp_path):
    # every row one field longer than the header: pandas took the first column as an index (TypeError)
    header, p1, p2 = _rows(cohort)
    return ["--manifest", _manifest(cohort, tmp_path, "\n".join([header, p1 + ",x", p2 + ",y"]) + "\n")], [
        "line 2", "fields"]


def _semicolons(cohort, tmp_path):
    return ["--manifest", _manifest(cohort, tmp_path, "\n".join(_rows(cohort, ";")) + "\n")], ["';'", "comma"]


def _tabs(cohort, tmp_path):
    return ["--manifest", _manifest(cohort, tmp_path, "\n".join(_rows(cohort, "\t")) + "\n")], ["tabs", "comma"]


def _us_semicolons(cohort, tmp_path):
    text = "case_id;image;mask\nU1;u1.png;u1-mask.png\n"
    return ["--pathway", "us", "--manifest", _manifest(cohort, tmp_path, text)], ["';'"]


def _us_extra_field(cohort, tmp_path):
    text = "case_id,image,mask\nU1,u1.png,u1-mask.png,extra\n"
    return ["--pathway", "us", "--manifest", _manifest(cohort, tmp_path, text)], ["line 2", "fields"]


def _workers(n):
    return lambda cohort, tmp_path: (["--manifest", cohort, "--workers", str(n)], [f"--workers {n}"])


def _us_workers_zero(cohort, tmp_path):
    return ["--pathway", "us", "--manifest", cohort, "--workers", "0"], ["--workers 0"]


def _dask(address):
    return lambda cohort, tmp_path: (["--manifest", cohort, "--dask", address], [f"--dask {address}"])


CATALOGUE = {
    # row: builder(cohort manifest, tmp_path) -> (extract arguments, what the error line must name)
    "ids differing only by spaces share a shard": _whitespace_ids,
    "manifest rows with an extra field": _extra_field,
    "manifest separated by semicolons": _semicolons,
    "manifest separated by tabs": _tabs,
    "ultrasound manifest separated by semicolons": _us_semicolons,
    "ultrasound manifest row with an extra field": _us_extra_field,
    "--workers 0": _workers(0),
    "--workers -3": _workers(-3),
    "--pathway us --workers 0": _us_workers_zero,
    "--dask to an unreachable scheduler": _dask("tcp://127.0.0.1:9"),
    "--dask with a malformed address": _dask("tcp://scheduler:port"),
}


@pytest.mark.parametrize("row", list(CATALOGUE))
def test_refused(row, cohort, tmp_path, capsys):
    import dask
    import distributed  # noqa: F401  (its config defaults must exist before the override below: leaving
    # dask.config.set deletes a top-level key it created, which would drop every "distributed" default
    # that importing distributed inside the block added, for the rest of the session)

    argv, names = CATALOGUE[row](cohort, tmp_path)
    out = tmp_path / "out"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):  # an unreachable address fails fast
        result = run_cli(["extract", *argv, "--out", out, *FAST, "--no-n4"], capsys)
    assert_refused(result, *names, before={}, folder=out)


def test_refused_while_another_run_uses_the_folder(cohort, tmp_path, capsys):
    fcntl = pytest.importorskip("fcntl")
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a run in progress holds it
        before = snapshot(out)
        result = run_cli(["extract", "--manifest", cohort, "--out", out, *FAST, "--no-n4"], capsys)
    assert_refused(result, str(out), "in use", before=before, folder=out)


# ------------------------------------------------------------------ a full disk
@contextlib.contextmanager
def tmpfs(folder: Path, size: str):
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}): the full-disk case needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _partial(folder: Path) -> list[str]:
    """Temporary files left behind, and JSON files that do not parse."""
    bad = [str(p) for p in folder.rglob(".tmp-*")]
    for p in folder.rglob("*.json"):
        try:
            json.loads(p.read_text())
        except ValueError:
            bad.append(str(p))
    return bad


@pytest.mark.slow
def test_full_disk_during_a_cohort_exits_2_keeps_what_finished_and_resumes(cohort, tmp_path, capsys):
    out = tmp_path / "disk" / "run"
    clean = tmp_path / "clean"
    assert run_cli(["extract", "--manifest", cohort, "--out", clean, *FAST, "--no-n4"], capsys).rc == 0
    with tmpfs(tmp_path / "disk", "40k") as disk:
        result = run_cli(["extract", "--manifest", cohort, "--out", out, *FAST, "--no-n4"], capsys)
        assert result.rc == 2, result.err
        assert "Traceback" not in result.err
        line = [ln for ln in result.err.splitlines() if "error:" in ln]
        assert len(line) == 1 and "disk is full" in line[0], result.err
        assert _partial(disk) == []
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        again = run_cli(["extract", "--manifest", cohort, "--out", out, *FAST, "--no-n4"], capsys)
        assert again.rc == 0, again.err
        assert (out / "features.csv").read_bytes() == (clean / "features.csv").read_bytes()


@pytest.mark.slow
def test_full_disk_under_extract_case_dir_leaves_nothing(tmp_path, capsys):
    import shutil

    cohort = tiny_cohort(tmp_path / "c", n=1)
    case = tmp_path / "P1"
    case.mkdir()
    for seq in ("T1C", "T2", "ADC"):
        shutil.copy(cohort.parent / f"P1_{seq}.nrrd", case / f"{seq}.nrrd")
    for name in ("tumor", "nodes"):
        shutil.copy(cohort.parent / f"P1_{name}.nrrd", case / f"mask_{name}.nrrd")
    with tmpfs(tmp_path / "disk", "12k") as disk:
        result = run_cli(["extract", "--case-dir", case, "--out", disk / "features.csv", "--params",
                          "pyradiomics-baseline", "--no-register"], capsys)
        assert_refused(result, "features", "disk is full", before={}, folder=disk)


def test_read_only_output_folder_is_refused(cohort, tmp_path, capsys):
    with tmpfs(tmp_path / "ro", "64k") as disk:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        result = run_cli(["extract", "--manifest", cohort, "--out", disk / "run", *FAST, "--no-n4"], capsys)
        assert_refused(result, str(disk / "run"), "not writable", before={}, folder=disk)


def test_a_terminal_that_cannot_print_utf8_gets_escapes_not_a_traceback(shared_dir, tmp_path):
    """The tool prints an em dash and names (validate's header line); on a Latin-1 terminal that used to
    end in UnicodeEncodeError after the work was done. Now: exit 0, the text with an escape."""
    from bad_inputs import run_cli_process

    d = shared_dir / "data" / "us-dlr-evc1"
    result = run_cli_process(["validate", "--signature", d / "published_signature.csv", "--features", d / "EVC1.csv",
                              "--label", "ALN_status"], env={"PYTHONIOENCODING": "latin-1"})
    assert result.rc == 0 and "Traceback" not in result.err, result.err
    assert "AUC 0.886" in result.out
