"""A reusable process pool for radiomics extractions.

Starting a Python process that imports numpy, SimpleITK and PyRadiomics costs about a second —
longer than a whole cropped case. The pool is therefore created once and reused by every
``extract_case`` call in the process. Workers are started from a *forkserver* that has already
imported those libraries (a fork of a clean, single-threaded server process: safe with ITK's
threads, unlike a fork of the caller), or with ``spawn`` where forkserver does not exist.
Tasks are top-level functions with picklable arguments, so the pool is spawn-safe.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger(__name__)

_PRELOAD = ["numpy", "SimpleITK", "pywt", "radiomics", "radiomics.featureextractor", "alnpredictor.features.radiomics"]
_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_workers = 0


def default_workers(n_jobs: int) -> int:
    """Processes to use for ``n_jobs`` extractions: one per job, at most one per CPU core."""
    return max(1, min(int(n_jobs), os.cpu_count() or 1))


def _context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        # Only effective before the forkserver starts; harmless afterwards.
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def _init_worker() -> None:
    """Worker start-up: quiet PyRadiomics' INFO records; one ITK thread per worker process.

    The pool already uses every core; ITK's thread pool on top only adds start-up and contention
    on the small cropped images. The ITK filters PyRadiomics runs on a crop (cast, crop, label
    statistics, connected components, hashing) give the same result with any number of threads.
    """
    import SimpleITK as sitk

    logging.getLogger("radiomics").setLevel(logging.WARNING)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def get_pool(workers: int) -> ProcessPoolExecutor:
    """The shared pool with exactly ``workers`` processes (recreated when the size changes)."""
    global _pool, _pool_workers
    with _lock:
        broken = _pool is not None and getattr(_pool, "_broken", False)
        if _pool is None or _pool_workers != workers or broken:
            if _pool is not None:
                _pool.shutdown(wait=not broken, cancel_futures=True)
            _pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_init_worker)
            _pool_workers = workers
            log.debug("radiomics worker pool started with %d processes", workers)
        return _pool


def _stop_pool(wait: bool) -> None:
    global _pool, _pool_workers
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=wait, cancel_futures=True)
        _pool, _pool_workers = None, 0


def discard_pool() -> None:
    """Drop a pool that failed (a worker died); the next call starts a fresh one."""
    _stop_pool(wait=False)


def shutdown_workers() -> None:
    """Stop the shared pool's processes (they are restarted on demand)."""
    _stop_pool(wait=True)


atexit.register(shutdown_workers)
