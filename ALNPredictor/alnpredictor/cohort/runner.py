"""Resumable cohort runner: one shard per finished case, failures recorded, nothing lost, nothing stale.

``run_cohort`` processes every case of a manifest with the per-case function it is given (a
pathway's ``process_case``, see :data:`alnpredictor.pathways.PATHWAYS`; the runner imports no
pathway) and that pathway's typed settings, on a local process pool (default) or a Dask cluster
(same code path: the same top-level function is submitted to either; top-level functions and
frozen dataclasses pickle under spawn and Dask). The main process writes each result the moment it
arrives, every file through :mod:`alnpredictor.outputs` (whole or not at all):

* ``OUT/shards/<key>.json`` — one finished case with its fingerprint
  (:mod:`alnpredictor.cohort.fingerprint`: settings, parameter/weights files, package versions,
  the manifest row, each input's size and time — or content with ``hash_inputs``);
* ``OUT/failures/<key>.json`` — one failed case with its error and fingerprint; the others go on;
* at the end ``OUT/features.csv`` (manifest order) and ``OUT/failures.csv`` are assembled from the
  results that match the current manifest and settings, and ``OUT/run.json`` records settings,
  versions, counts, timing and peak memory.

**Resume.** A rerun (the default) reuses a shard only when its fingerprint matches the case as it
is now; otherwise it recomputes the case and says so (a log line per case, ``recomputed_changed``
and the reasons in ``run.json``). A case whose image or mask is now missing fails
(``failures.csv``) and its old features are left out. Failed cases are retried when anything in
their fingerprint changed (e.g. rerun with ``--allow-border``), or on request (``retry_failed``).

**Workers.** A worker that dies (the OOM killer, SIGKILL, a crash in C code) fails the case it was
running ("worker died: likely out of memory"); the pool is restarted and the other cases go on. A
rerun retries such a case by itself, unless it killed its worker twice. Workers end with the main
process (:func:`alnpredictor.features.workers.tie_to_parent`): after a SIGKILL of the run nothing of
it lives on, and the rerun resumes. Ctrl-C stops the workers and raises :class:`CohortInterrupted`
("interrupted; N cases kept, rerun to resume"). One run at a time per folder (a lock file).

**Identifiers.** Shard file names are a hash of the case id salted with a random value per run folder
(``salt`` in ``run.json``), so they cannot be reversed by hashing guessed ids. The run folder still
holds identifiers: ``features.csv`` and ``failures.csv`` list the case ids, and each shard names its
case inside. Share the run folder as you would share the manifest.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import sys
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
from alnpredictor.cohort.fingerprint import case_fingerprint, changed_parts, run_parts
from alnpredictor.cohort.manifest import Case, Manifest, case_key, load_manifest
from alnpredictor.errors import InputError
from alnpredictor.outputs import write_bytes, write_csv, write_json
from alnpredictor.runtime import peak_rss_mb
from alnpredictor.settings import as_record

log = logging.getLogger(__name__)

#: A pathway's per-case function: one manifest case (``Case.to_dict()``) and the typed settings →
#: a JSON-ready record with at least ``features`` and ``clinical``.
ProcessCase = Callable[[dict[str, Any], Any], dict[str, Any]]

#: ``error_type`` of a case whose worker process died; retried by a rerun until it died this often.
WORKER_DIED = "WorkerDied"
MAX_WORKER_DEATHS = 2

#: Set in each local worker process: where it announces the case it starts (pid, case id), so that
#: the main process knows which case a dead worker was running.
_started_queue: Any = None


class CohortInterrupted(KeyboardInterrupt):
    """Ctrl-C during a cohort run: workers stopped, finished cases kept (the rerun resumes)."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        super().__init__(f"interrupted; {kept} case{'s' if kept != 1 else ''} kept, rerun to resume")


def _worker_init(parent_pid: int, started_queue: Any) -> None:
    """Local worker start-up: end with the main process, ignore Ctrl-C, announce started cases."""
    from alnpredictor.features.workers import tie_to_parent

    global _started_queue
    tie_to_parent(parent_pid)
    _started_queue = started_queue


def process_one(process_case: ProcessCase, case: dict[str, Any], settings: Any) -> dict[str, Any]:
    """Run one case in a worker (process pool or Dask); never raises.

    The pathway pins the library threads of the case itself (``settings.threads``), so the same
    case gives the same features whatever the number of workers or the executor; parallelism comes
    from the worker processes.

    Returns ``{"ok": True, "result": {...}}`` or ``{"ok": False, "error": ..., "error_type": ...}``
    with timing and the worker's peak resident memory.
    """
    if _started_queue is not None:
        _started_queue.put((os.getpid(), case["case_id"]))
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
    recomputed_changed: int = 0
    worker_deaths: int = 0


def check_workers(workers: Any, option: str = "workers") -> int:
    """``workers`` as a whole number ≥ 1, else :class:`InputError` naming ``option``."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"{option} {workers!r}: give a whole number of worker processes, 1 or more")
    return workers


def _dask_client(dask: Any, option: str = "--dask"):
    """A Dask client for an address, cluster or client; an unreachable or malformed address is an
    :class:`InputError` (connect timeout: Dask's ``distributed.comm.timeouts.connect``)."""
    from distributed import Client

    if isinstance(dask, Client):
        return dask, False
    if isinstance(dask, str):
        from distributed.comm.addressing import parse_address, parse_host_port

        try:
            _, loc = parse_address(dask.strip())
            host, port = parse_host_port(loc)
            if not host or not port:
                raise ValueError("no host:port")
        except (ValueError, TypeError) as exc:
            raise InputError(f"{option} {dask}: not a scheduler address; give tcp://HOST:PORT (e.g. "
                             "tcp://10.0.0.5:8786)") from exc
    try:
        return Client(dask), True
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise InputError(f"{option} {dask}: no Dask scheduler answered ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'no reply'}); start it, check the address, "
                         "or run without --dask") from exc


class _Executor:
    """Common face of the local process pool and a Dask client: submit, wait for any, dead workers."""

    def __init__(self, process_case: ProcessCase, workers: int, dask_client: Any = None) -> None:
        self.process_case = process_case
        self.dask_client = dask_client
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.started: dict[int, str] = {}  # worker pid -> case id it last started
        self._processes: dict[int, Any] = {}
        if dask_client is None:
            self._new_pool()

    def _new_pool(self) -> None:
        # spawn: VTK/ITK/torch state must not be forked; recycle workers to bound memory.
        ctx = get_context("spawn")
        self.queue = ctx.SimpleQueue()  # written synchronously: a message is out before the worker can die
        self.started, self._processes = {}, {}
        self.pool = ProcessPoolExecutor(self.workers, mp_context=ctx, max_tasks_per_child=25,
                                        initializer=_worker_init, initargs=(os.getpid(), self.queue))

    def submit(self, case: dict[str, Any], settings: Any, salt: str):
        if self.dask_client is not None:
            return self.dask_client.submit(process_one, self.process_case, case, settings, pure=False,
                                           key=f"case-{case_key(case['case_id'], salt)}")
        return self.pool.submit(process_one, self.process_case, case, settings)

    def wait_any(self, futures: set) -> set:
        if self.dask_client is not None:
            from distributed import wait as dask_wait

            return set(dask_wait(list(futures), return_when="FIRST_COMPLETED").done)
        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        self._track()
        return set(done)

    def _track(self) -> None:
        """Which case each worker started, and the worker processes (their exit codes tell who died).
        ``_processes`` is CPython's table of the pool's processes; without it every case in flight is
        suspected."""
        while self.pool is not None and not self.queue.empty():
            pid, case_id = self.queue.get()
            self.started[pid] = case_id
        self._processes.update(getattr(self.pool, "_processes", None) or {})

    def dead_worker_cases(self, in_flight: set[str], blame_all: bool = False) -> dict[str, str]:
        """After the pool broke: case id → how its worker ended, for the cases in flight whose worker
        died (exit code not 0 and not the SIGTERM the pool sends the others). A worker that died idle
        blames no case. Without a process table, or with ``blame_all`` (the pool keeps breaking),
        every case in flight is blamed, so that a run always ends."""
        self._track()
        if blame_all:
            return {cid: "the worker pool kept failing" for cid in in_flight}
        if not self._processes:
            return {cid: "ended abruptly" for cid in in_flight if cid in self.started.values()}
        deadline = time.time() + 2.0
        while True:  # the pool's thread reaps the dead one: its exit code may take a moment
            dead = {pid: p.exitcode for pid, p in self._processes.items()
                    if p.exitcode not in (None, 0, -signal.SIGTERM)}
            if dead or time.time() > deadline:
                break
            time.sleep(0.05)
        out = {}
        for pid, code in dead.items():
            case_id = self.started.get(pid)
            if case_id in in_flight:
                out[case_id] = (f"killed by {signal.Signals(-code).name}" if code < 0 and -code in
                                {s.value for s in signal.Signals} else f"exit code {code}")
        return out

    def restart(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self._new_pool()

    @property
    def capacity(self) -> int:
        if self.dask_client is not None:
            return max(1, sum(self.dask_client.nthreads().values()))
        return self.workers

    def stop_now(self, futures: Any = ()) -> None:
        """Ctrl-C or an error: end the workers at once (they ignore SIGINT) rather than wait for their
        cases; on Dask, cancel the cases submitted."""
        if self.dask_client is not None and futures:
            with contextlib.suppress(Exception):
                self.dask_client.cancel(list(futures))
        if self.pool is not None:
            self._track()
            self.pool.shutdown(wait=False, cancel_futures=True)
            for proc in self._processes.values():
                with contextlib.suppress(Exception):
                    proc.kill()
                    proc.join(5)
            self.pool = None
        self.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="case", desc="cases", disable=not enabled, dynamic_ncols=True)


class _RunFolder:
    """The run folder: one run at a time (a lock), the salt, shard and failure records by case."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.shards, self.failures = out / "shards", out / "failures"
        self._lock_fh = None
        try:
            self.shards.mkdir(parents=True, exist_ok=True)
            self.failures.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from alnpredictor.outputs import output_error

            raise output_error(out, exc) from exc
        previous = self.read(out / "run.json") or {}
        self.previous = previous
        self.salt = previous.get("salt") or secrets.token_hex(16)

    def lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock
            return
        try:
            self._lock_fh = open(self.out / ".lock", "a+")  # noqa: SIM115 - held for the whole run
        except OSError as exc:  # a read-only folder
            from alnpredictor.outputs import output_error

            raise output_error(self.out / ".lock", exc) from exc
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock_fh.close()
            self._lock_fh = None
            raise InputError(f"run folder {self.out} is in use by another run; wait for it to finish or give "
                             "another --out") from exc

    def unlock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def key(self, case_id: str) -> str:
        return case_key(case_id, self.salt)

    def shard(self, case_id: str) -> Path:
        return self.shards / f"{self.key(case_id)}.json"

    def failure(self, case_id: str) -> Path:
        return self.failures / f"{self.key(case_id)}.json"

    @staticmethod
    def read(path: Path) -> dict[str, Any] | None:
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # written atomically, so only a damaged disk gets here
            log.warning("ignoring unreadable %s (%s)", path, exc)
            return None

    @staticmethod
    def remove(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


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
    hash_inputs: bool = False,
    progress: bool = True,
    on_case: Callable[[dict[str, Any]], None] | None = None,
) -> CohortResult:
    """Process a cohort; see the module docstring for the files written and the resume rules.

    :param manifest: a manifest path or an already validated :class:`Manifest`.
    :param process_case: the pathway's per-case function (``PATHWAYS[name].process_case``).
    :param settings: the pathway's typed settings (e.g. ``MRISettings``), passed to every case; a
        ``cache_dir`` left unset becomes ``OUT/cache``.
    :param workers: local worker processes, ≥ 1 (ignored with ``dask``).
    :param dask: a Dask scheduler address (``tcp://host:port``), a cluster, or a ``Client``.
    :param resume: reuse the results of an earlier run that match the cases as they are now (default).
    :param retry_failed: process again the cases that failed in an earlier run with the same inputs.
    :param hash_inputs: compare input files by content (SHA-256) instead of size and time.
    :raises CohortInterrupted: on Ctrl-C, once the workers are stopped (finished cases are kept).
    """
    t0 = time.perf_counter()
    workers = check_workers(workers)
    out = Path(out_dir)
    mf = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    if "cache_dir" in {f.name for f in fields(settings)} and settings.cache_dir is None:
        settings = replace(settings, cache_dir=str(out / "cache"))
    # Connect before anything is written: a wrong address leaves the run folder as it was.
    client, own_client = _dask_client(dask) if dask is not None else (None, False)
    try:
        run = _RunFolder(out)
        run.lock()
        try:
            return _run(mf, run, process_case, settings, workers=workers, dask=dask, client=client,
                        resume=resume, retry_failed=retry_failed, hash_inputs=hash_inputs, progress=progress,
                        on_case=on_case, t0=t0)
        finally:
            run.unlock()
    finally:
        if own_client:
            client.close()


def _run(mf: Manifest, run: _RunFolder, process_case: ProcessCase, settings: Any, *, workers: int, dask: Any,
         client: Any, resume: bool, retry_failed: bool, hash_inputs: bool, progress: bool,
         on_case: Callable[[dict[str, Any]], None] | None, t0: float) -> CohortResult:
    out = run.out
    run_fp, run_record = run_parts(settings)
    state: dict[str, str] = {}  # case id -> "done" | "failed"
    fingerprints: dict[str, dict[str, Any]] = {}
    deaths_before: dict[str, int] = {}
    reasons: dict[str, int] = {}
    todo: list[Case] = []
    skipped = recomputed_changed = 0

    base_record = {"alnpredictor": __version__, "salt": run.salt, "manifest": str(mf.path),
                   "manifest_rows": len(mf.cases), "workers": workers,
                   "dask": str(dask) if dask is not None else None, "hash_inputs": hash_inputs,
                   "settings": as_record(settings), **run_record,
                   "identifiers": "features.csv, failures.csv and the shards' content name the cases; "
                                  "shard file names are salted hashes"}
    write_json(out / "run.json", {**base_record, "status": "running", "started": time.time()})

    for cid, msgs in mf.case_problems.items():  # a missing image or mask: failed, old features left out
        print(f"case {cid}: " + "; ".join(msgs), file=sys.stderr)
        write_json(run.failure(cid), {"case_id": cid, "error_type": "InputError", "error": "; ".join(msgs),
                                      "stage": "manifest", "fingerprint": None}, indent=None)
        state[cid] = "failed"

    for case in mf.runnable():
        cid = case.case_id
        fp = fingerprints[cid] = case_fingerprint(case.to_dict(), run_fp, hash_inputs)
        shard = run.read(run.shard(cid)) if resume else None
        stale = changed_parts(shard.get("fingerprint"), fp) if shard is not None else []
        if shard is not None and not stale:
            state[cid] = "done"
            skipped += 1
            run.remove(run.failure(cid))
            continue
        failure = run.read(run.failure(cid)) if resume else None
        if failure is not None:
            changed = changed_parts(failure.get("fingerprint"), fp)
            died = failure.get("error_type") == WORKER_DIED
            deaths = int(failure.get("deaths") or 0)
            if failure.get("stage") == "manifest":
                log.info("case %s: retried, its missing files are there now", cid)
            elif changed:
                log.info("case %s: retried, its %s changed since it failed", cid, ", ".join(changed))
            elif retry_failed or (died and deaths < MAX_WORKER_DEATHS):
                deaths_before[cid] = deaths if died else 0
                if died and not retry_failed:
                    log.info("case %s: retried (its worker died in an earlier run)", cid)
            else:  # failed with these very inputs and settings: kept failed until asked
                state[cid] = "failed"
                skipped += 1
                continue
        elif stale:
            log.info("case %s: recomputed, its %s changed since it was computed", cid, ", ".join(stale))
            recomputed_changed += 1
            for r in stale:
                reasons[r] = reasons.get(r, 0) + 1
        todo.append(case)
    if recomputed_changed:
        log.warning("%d finished case(s) recomputed because their settings, inputs or manifest row changed",
                    recomputed_changed)

    computed: list[str] = []
    n_failed_now = worker_deaths = 0
    peak = 0.0

    def record(case: dict[str, Any], status: dict[str, Any]) -> None:
        nonlocal n_failed_now, peak, worker_deaths
        cid = case["case_id"]
        peak = max(peak, float(status.get("peak_rss_mb", 0.0) or 0.0))
        if status["ok"]:
            rec = dict(status["result"])
            rec.update(case_id=cid, site=case.get("site"), label=case.get("label"), pathway=case["pathway"],
                       seconds=status["seconds"], peak_rss_mb=status["peak_rss_mb"], computed_at=time.time(),
                       fingerprint=fingerprints[cid])
            write_json(run.shard(cid), rec, indent=None)
            run.remove(run.failure(cid))
            computed.append(cid)
            state[cid] = "done"
        else:
            n_failed_now += 1
            died = status.get("error_type") == WORKER_DIED
            worker_deaths += died
            write_json(run.failure(cid), {k: status.get(k) for k in (
                "case_id", "error_type", "error", "traceback", "seconds")} | {
                "stage": "processing", "fingerprint": fingerprints[cid],
                "deaths": deaths_before.get(cid, 0) + 1 if died else 0}, indent=None)
            state[cid] = "failed"
            log.warning("case failed (%s): %s", status.get("error_type"), status.get("error"))
        bar.update(1)
        bar.set_postfix(failed=n_failed_now)
        if on_case:
            on_case(status)

    if todo:  # the tables are assembled again at the end: never one that disagrees with run.json
        run.remove(out / "features.csv")
        run.remove(out / "failures.csv")
    bar = _progress(len(todo), progress)
    executor = None
    pending: dict[Any, dict[str, Any]] = {}
    try:
        executor = _Executor(process_case, workers, client) if todo else None
        queue = [c.to_dict() for c in todo]
        breaks_in_a_row = 0  # pool breaks with no case finished in between
        while queue or pending:
            while queue and len(pending) < 2 * executor.capacity:
                case = queue.pop(0)
                pending[executor.submit(case, settings, run.salt)] = case
            broken = False
            for fut in executor.wait_any(set(pending)):
                try:
                    status = fut.result()
                except BrokenProcessPool:
                    broken = True  # handled below, for every case in flight at once
                    continue
                except Exception as exc:  # e.g. a Dask worker lost (KilledWorker) or a result that would not pickle
                    status = _lost_status(pending[fut], exc)
                record(pending.pop(fut), status)
            if not broken:
                breaks_in_a_row = 0
                continue
            breaks_in_a_row += 1
            in_flight = {c["case_id"] for c in pending.values()}
            dead = executor.dead_worker_cases(in_flight, blame_all=breaks_in_a_row > 2)
            for fut, case in list(pending.items()):
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    record(case, fut.result())  # finished just before the pool broke
                elif case["case_id"] in dead:
                    record(case, _died_status(case, dead[case["case_id"]]))
                else:
                    queue.insert(0, case)  # an innocent bystander: run it again on a fresh pool
            pending.clear()
            executor.restart()
    except KeyboardInterrupt:
        bar.close()
        if executor:
            executor.stop_now(pending)
            executor = None
        kept = sum(v == "done" for v in state.values())
        write_json(out / "run.json", {**base_record, "status": "interrupted", "done": kept,
                                      "computed_this_run": len(computed), "seconds": round(time.perf_counter() - t0, 2)})
        raise CohortInterrupted(kept) from None
    except BaseException:  # e.g. a full disk (OutputError): stop at once, what finished is kept
        if executor:
            executor.stop_now(pending)
            executor = None
        raise
    finally:
        bar.close()
        if executor:
            executor.close()

    features_csv, failures_csv, n_done, n_failed = assemble(mf, out, state, run)
    result = CohortResult(out, features_csv, failures_csv, n_done, n_failed, skipped, computed,
                          round(time.perf_counter() - t0, 2), peak, recomputed_changed, worker_deaths)
    write_json(out / "run.json", {
        **base_record, "status": "finished", "done": n_done, "failed": n_failed,
        "computed_this_run": len(computed), "skipped_this_run": skipped,
        "recomputed_changed": recomputed_changed, "recomputed_reasons": reasons, "worker_deaths": worker_deaths,
        "seconds": result.seconds, "peak_worker_rss_mb": peak,
    })
    return result


def _died_status(case: dict[str, Any], how: str) -> dict[str, Any]:
    return {"ok": False, "case_id": case["case_id"], "error_type": WORKER_DIED,
            "error": f"worker died ({how}): likely out of memory; a rerun retries it once (fewer --workers "
                     "leaves each case more memory)"}


def _lost_status(case: dict[str, Any], exc: Exception) -> dict[str, Any]:
    if type(exc).__name__ == "KilledWorker":  # Dask gave up on a case that kept killing its workers
        return _died_status(case, "Dask worker lost")
    return {"ok": False, "case_id": case["case_id"], "error_type": type(exc).__name__, "error": str(exc) or repr(exc)}


def assemble(mf: Manifest, out: Path, state: dict[str, str], run: _RunFolder) -> tuple[Path, Path, int, int]:
    """Build ``features.csv`` (manifest order) and ``failures.csv`` from this run's view of each case
    (``state``: done or failed); clinical values, site and label come from the manifest as it is now."""
    rows, frows = [], []
    for case in mf.cases:
        status = state.get(case.case_id)
        if status == "done":
            rec = run.read(run.shard(case.case_id)) or {}
            row = {"case_id": case.case_id, "site": case.site, "label": case.label}
            row.update(case.clinical)
            row.update(rec.get("features", {}))
            rows.append(row)
        elif status == "failed":
            r = run.read(run.failure(case.case_id)) or {}
            frows.append({"case_id": case.case_id, "stage": r.get("stage"), "error_type": r.get("error_type"),
                          "error": r.get("error")})
    features_csv, failures_csv = out / "features.csv", out / "failures.csv"
    # repr-exact floats: a resumed run must produce byte-identical features.csv
    write_csv(features_csv, pd.DataFrame(rows), float_format=None)
    write_csv(failures_csv, pd.DataFrame(frows, columns=["case_id", "stage", "error_type", "error"]))
    return features_csv, failures_csv, len(rows), len(frows)


def run_dir_for(out: str | Path) -> tuple[Path, bool]:
    """Where a CLI run keeps its shards: ``FEATURES.csv`` → ``FEATURES.run/`` beside it; a folder → itself."""
    out = Path(out)
    is_csv = out.suffix.lower() == ".csv"
    return (out.with_name(out.stem + ".run") if is_csv else out), is_csv


def publish(out: str | Path, result: CohortResult, provenance: dict[str, Any]) -> dict[str, Any]:
    """Put a finished run where the user asked: for ``FEATURES.csv`` copy the feature table there
    with ``<stem>.provenance.json`` and (when cases failed) ``<stem>.failures.csv`` beside it.
    Returns the one-line JSON summary the CLI prints."""
    from alnpredictor.jsonsafe import json_safe

    out = Path(out)
    _, is_csv = run_dir_for(out)
    features = result.features_csv
    if is_csv:
        write_bytes(out, result.features_csv.read_bytes())
        features = out
        write_json(out.with_name(out.stem + ".provenance.json"), json_safe(
            {"alnpredictor": __version__, "run_dir": str(result.out_dir), "done": result.done,
             "failed": result.failed, **provenance}), default=str)
        failures = out.with_name(out.stem + ".failures.csv")
        if result.failed:
            write_bytes(failures, result.failures_csv.read_bytes())
        elif failures.exists():
            failures.unlink()
    return {"features_csv": str(features), "failures_csv": str(result.failures_csv), "done": result.done,
            "failed": result.failed, "resumed": result.skipped, "recomputed_changed": result.recomputed_changed,
            "worker_deaths": result.worker_deaths, "seconds": result.seconds,
            "peak_worker_rss_mb": result.peak_worker_rss_mb}
