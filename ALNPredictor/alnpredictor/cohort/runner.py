"""Resumable cohort runner: one shard per finished case, failures recorded, never lost.

``run_cohort`` processes every case of a manifest with the per-case function it is given (a
pathway's ``process_case``, see :data:`alnpredictor.pathways.PATHWAYS`; the runner imports no
pathway) and that pathway's typed settings, on a local process pool (default) or a Dask cluster
(same code path: the same top-level function is submitted to either; top-level functions and
frozen dataclasses pickle under spawn and Dask). The main process writes each result the moment it arrives:

* ``OUT/shards/<key>.json`` — one finished case (atomic: written to a temporary file, then
  renamed), ``<key>`` a hash of the case id so that patient identifiers stay out of file names;
* ``OUT/failures/<key>.json`` — one failed case with its error; the other cases go on;
* at the end ``OUT/features.csv`` (manifest order) and ``OUT/failures.csv`` are assembled from
  the shards, and ``OUT/run.json`` records settings, versions, counts, timing and peak memory.

A rerun skips cases whose shard exists (resume is the default), so a killed run loses at most
the cases in flight; failed cases are retried only on request (``retry_failed=True``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, fields, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from alnpredictor import __version__
from alnpredictor.cohort.manifest import Case, Manifest, case_key, load_manifest
from alnpredictor.runtime import peak_rss_mb
from alnpredictor.settings import as_record

log = logging.getLogger(__name__)

#: A pathway's per-case function: one manifest case (``Case.to_dict()``) and the typed settings →
#: a JSON-ready record with at least ``features`` and ``clinical``.
ProcessCase = Callable[[dict[str, Any], Any], dict[str, Any]]


def _atomic_write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, allow_nan=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def process_one(process_case: ProcessCase, case: dict[str, Any], settings: Any) -> dict[str, Any]:
    """Run one case in a worker (process pool or Dask); never raises.

    The pathway pins the library threads of the case itself (``settings.threads``), so the same
    case gives the same features whatever the number of workers or the executor; parallelism comes
    from the worker processes.

    Returns ``{"ok": True, "result": {...}}`` or ``{"ok": False, "error": ..., "error_type": ...}``
    with timing and the worker's peak resident memory.
    """
    start = time.perf_counter()
    try:
        result = process_case(case, settings)
        status: dict[str, Any] = {"ok": True, "result": result}
    except Exception as exc:  # a failing case is recorded, never fatal
        status = {
            "ok": False,
            "error_type": type(exc).__name__,
            "error": str(exc) or repr(exc),
            "traceback": traceback.format_exc(limit=6),
        }
    status.update(
        case_id=case["case_id"],
        seconds=round(time.perf_counter() - start, 3),
        peak_rss_mb=round(peak_rss_mb(), 1),
        worker_pid=os.getpid(),
    )
    return status


@dataclass
class CohortResult:
    """What a run produced (paths) and how it went (counts, timing, memory)."""

    out_dir: Path
    features_csv: Path
    failures_csv: Path
    done: int
    failed: int
    skipped: int
    computed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_worker_rss_mb: float = 0.0


class _Executor:
    """Common face of the local process pool and a Dask client: submit, wait for any."""

    def __init__(self, process_case: ProcessCase, workers: int, dask: Any = None) -> None:
        self.process_case = process_case
        self.dask_client = None
        self.own_client = False
        self.workers = max(1, int(workers))
        if dask is not None:
            from distributed import Client

            if isinstance(dask, Client):
                self.dask_client = dask
            else:  # an address "tcp://host:port" or a cluster object
                self.dask_client = Client(dask)
                self.own_client = True
            self.pool = None
        else:
            self._new_pool()

    def _new_pool(self) -> None:
        # spawn: VTK/ITK/torch state must not be forked; recycle workers to bound memory.
        self.pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), max_tasks_per_child=25)

    def submit(self, case: dict[str, Any], settings: Any):
        if self.dask_client is not None:
            return self.dask_client.submit(process_one, self.process_case, case, settings, pure=False,
                                           key=f"case-{case_key(case['case_id'])}")
        return self.pool.submit(process_one, self.process_case, case, settings)

    def wait_any(self, futures: set) -> tuple[set, set]:
        if self.dask_client is not None:
            from distributed import wait as dask_wait

            res = dask_wait(list(futures), return_when="FIRST_COMPLETED")
            return set(res.done), set(res.not_done)
        done, not_done = wait(futures, return_when=FIRST_COMPLETED)
        return set(done), set(not_done)

    def result(self, future) -> dict[str, Any]:
        return future.result()

    def restart(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self._new_pool()

    @property
    def capacity(self) -> int:
        if self.dask_client is not None:
            return max(1, sum(self.dask_client.nthreads().values()))
        return self.workers

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.own_client and self.dask_client is not None:
            self.dask_client.close()


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="case", desc="cases", disable=not enabled, dynamic_ncols=True)


def run_cohort(
    manifest: str | Path | Manifest,
    out_dir: str | Path,
    process_case: ProcessCase,
    settings: Any,
    *,
    workers: int = 1,
    dask: Any = None,
    resume: bool = True,
    retry_failed: bool = False,
    progress: bool = True,
    on_case: Callable[[dict[str, Any]], None] | None = None,
) -> CohortResult:
    """Process a cohort; see the module docstring for the files written.

    :param manifest: a manifest path or an already validated :class:`Manifest`.
    :param process_case: the pathway's per-case function (``PATHWAYS[name].process_case``).
    :param settings: the pathway's typed settings (e.g. ``MRISettings``), passed to every case; a
        ``cache_dir`` left unset becomes ``OUT/cache``.
    :param workers: local worker processes (ignored with ``dask``).
    :param dask: a Dask scheduler address (``tcp://host:port``), a cluster, or a ``Client``.
    :param resume: skip cases finished by an earlier run (default).
    :param retry_failed: process again the cases that failed in an earlier run.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    shards, failures = out / "shards", out / "failures"
    shards.mkdir(parents=True, exist_ok=True)
    failures.mkdir(parents=True, exist_ok=True)
    mf = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    if "cache_dir" in {f.name for f in fields(settings)} and settings.cache_dir is None:
        settings = replace(settings, cache_dir=str(out / "cache"))

    for cid, msgs in mf.case_problems.items():
        print(f"case {cid}: " + "; ".join(msgs), file=sys.stderr)
        if not (shards / f"{case_key(cid)}.json").exists():
            _atomic_write_json(failures / f"{case_key(cid)}.json", {
                "case_id": cid, "error_type": "InputError", "error": "; ".join(msgs), "stage": "manifest"})

    todo: list[Case] = []
    skipped = 0
    for case in mf.runnable():
        key = case_key(case.case_id)
        if resume and (shards / f"{key}.json").exists():
            skipped += 1
            continue
        if (failures / f"{key}.json").exists():
            if not retry_failed and resume:
                skipped += 1
                continue
            (failures / f"{key}.json").unlink()
        todo.append(case)

    computed: list[str] = []
    n_failed_now = 0
    peak = 0.0
    bar = _progress(len(todo), progress)
    executor = _Executor(process_case, workers, dask) if todo else None
    try:
        pending = {}
        queue = [c.to_dict() for c in todo]
        while queue or pending:
            while queue and len(pending) < 2 * (executor.capacity if executor else 1):
                case = queue.pop(0)
                pending[executor.submit(case, settings)] = case
            done, _ = executor.wait_any(set(pending))
            for fut in done:
                case = pending.pop(fut)
                try:
                    status = executor.result(fut)
                except BrokenProcessPool:
                    status = {"ok": False, "case_id": case["case_id"], "error_type": "WorkerDied",
                              "error": "the worker process died (out of memory?); rerun with fewer workers"}
                    # The other in-flight cases died with the pool: requeue them on a fresh one.
                    queue = [pending.pop(f) for f in list(pending)] + queue
                    executor.restart()
                except Exception as exc:  # e.g. a Dask worker lost
                    status = {"ok": False, "case_id": case["case_id"], "error_type": type(exc).__name__, "error": str(exc)}
                key = case_key(case["case_id"])
                peak = max(peak, float(status.get("peak_rss_mb", 0.0)))
                if status["ok"]:
                    record = dict(status["result"])
                    record.update(case_id=case["case_id"], site=case.get("site"), label=case.get("label"),
                                  pathway=case["pathway"], seconds=status["seconds"],
                                  peak_rss_mb=status["peak_rss_mb"], computed_at=time.time())
                    _atomic_write_json(shards / f"{key}.json", record)
                    computed.append(case["case_id"])
                else:
                    n_failed_now += 1
                    _atomic_write_json(failures / f"{key}.json", {k: status.get(k) for k in (
                        "case_id", "error_type", "error", "traceback", "seconds")} | {"stage": "processing"})
                    log.warning("case failed (%s): %s", status.get("error_type"), status.get("error"))
                bar.update(1)
                bar.set_postfix(failed=n_failed_now)
                if on_case:
                    on_case(status)
    finally:
        bar.close()
        if executor:
            executor.close()

    features_csv, failures_csv, n_done, n_failed = assemble(mf, out)
    result = CohortResult(out, features_csv, failures_csv, n_done, n_failed, skipped, computed,
                          round(time.perf_counter() - t0, 2), peak)
    _atomic_write_json(out / "run.json", {
        "alnpredictor": __version__, "manifest_rows": len(mf.cases), "done": n_done, "failed": n_failed,
        "computed_this_run": len(computed), "skipped_this_run": skipped, "seconds": result.seconds,
        "peak_worker_rss_mb": peak, "workers": workers, "dask": str(dask) if dask is not None else None,
        "settings": as_record(settings),
    })
    return result


def _read_shards(folder: Path) -> dict[str, dict[str, Any]]:
    records = {}
    for path in folder.glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):  # a half-written temp is never named *.json
            continue
        records[record["case_id"]] = record
    return records


def assemble(mf: Manifest, out: Path) -> tuple[Path, Path, int, int]:
    """Build ``features.csv`` (manifest order) and ``failures.csv`` from the shards."""
    done = _read_shards(out / "shards")
    failed = _read_shards(out / "failures")
    rows = []
    for case in mf.cases:
        rec = done.get(case.case_id)
        if rec is None:
            continue
        row = {"case_id": case.case_id, "site": case.site, "label": case.label}
        row.update(rec.get("clinical", case.clinical) or {})
        row.update(rec.get("features", {}))
        rows.append(row)
    features_csv = out / "features.csv"
    _write_csv_atomic(pd.DataFrame(rows), features_csv)
    frows = [{"case_id": cid, "stage": r.get("stage"), "error_type": r.get("error_type"), "error": r.get("error")}
             for cid, r in failed.items() if cid not in done]
    failures_csv = out / "failures.csv"
    _write_csv_atomic(pd.DataFrame(frows, columns=["case_id", "stage", "error_type", "error"]), failures_csv)
    return features_csv, failures_csv, len(rows), len(frows)


def _write_csv_atomic(df: pd.DataFrame, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".csv")
    os.close(fd)
    # repr-exact floats: a resumed run must produce byte-identical features.csv
    df.to_csv(tmp, index=False, float_format=None)
    os.replace(tmp, path)


def run_dir_for(out: str | Path) -> tuple[Path, bool]:
    """Where a CLI run keeps its shards: ``FEATURES.csv`` → ``FEATURES.run/`` beside it; a folder → itself."""
    out = Path(out)
    is_csv = out.suffix.lower() == ".csv"
    return (out.with_name(out.stem + ".run") if is_csv else out), is_csv


def publish(out: str | Path, result: CohortResult, provenance: dict[str, Any]) -> dict[str, Any]:
    """Put a finished run where the user asked: for ``FEATURES.csv`` copy the feature table there
    with ``<stem>.provenance.json`` and (when cases failed) ``<stem>.failures.csv`` beside it.
    Returns the one-line JSON summary the CLI prints."""
    import shutil

    out = Path(out)
    _, is_csv = run_dir_for(out)
    features = result.features_csv
    if is_csv:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.features_csv, out)
        features = out
        out.with_name(out.stem + ".provenance.json").write_text(json.dumps(
            {"alnpredictor": __version__, "run_dir": str(result.out_dir), "done": result.done,
             "failed": result.failed, **provenance}, indent=2, default=str))
        failures = out.with_name(out.stem + ".failures.csv")
        if result.failed:
            shutil.copyfile(result.failures_csv, failures)
        elif failures.exists():
            failures.unlink()
    return {"features_csv": str(features), "failures_csv": str(result.failures_csv), "done": result.done,
            "failed": result.failed, "resumed": result.skipped, "seconds": result.seconds,
            "peak_worker_rss_mb": result.peak_worker_rss_mb}
