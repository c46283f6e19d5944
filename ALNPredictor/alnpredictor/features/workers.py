"""A reusable process pool for radiomics extractions.

Starting a Python process that imports numpy, SimpleITK and PyRadiomics costs about a second —
longer than a whole cropped case. The pool is therefore created once and reused by every
``extract_case`` call in the process. Workers are started from a *forkserver* that has already
imported those libraries (a fork of a clean, single-threaded server process: safe with ITK's
threads, unlike a fork of the caller), or with ``spawn`` where forkserver does not exist.
Tasks are top-level functions with picklable arguments, so the pool is spawn-safe.

Every worker process of the package (this pool and the cohort runner's) is tied to its parent with
:func:`tie_to_parent`: killed however (SIGKILL, OOM killer), the parent takes its workers with it,
and Ctrl-C is the parent's to handle (workers ignore SIGINT; the parent stops them).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
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


#: How often a worker's watchdog thread looks at its parent (seconds).
WATCHDOG_INTERVAL_S = 0.5


def _set_parent_death_signal() -> bool:
    """Linux: have the kernel SIGKILL this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``).

    Immediate even while the process runs C code that holds the GIL (N4, PyRadiomics' matrices),
    where a Python watchdog thread could not run."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        return libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):  # no libc/prctl (musl builds, sandboxes): the watchdog remains
        return False


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:  # re-parented: the parent is gone
            os._exit(1)
        time.sleep(WATCHDOG_INTERVAL_S)


def tie_to_parent(parent_pid: int | None = None) -> None:
    """Make a worker process end with its parent and leave Ctrl-C to the parent.

    :param parent_pid: the process that started the pool (spawn); ``None``: this process's parent as
        it is now (forkserver: the server, which itself ends with the process that started it).

    Call it first in a worker's initializer. On Linux the kernel kills the worker when the parent
    dies (:func:`_set_parent_death_signal`); everywhere a daemon thread checks every
    :data:`WATCHDOG_INTERVAL_S` seconds that the worker has not been re-parented (and covers the
    moment between start-up and this call: a parent already gone is noticed at once). SIGINT is
    ignored: a terminal sends Ctrl-C to the whole process group, and the parent stops its workers
    itself and reports what was kept.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_parent_death_signal()
    if parent_pid is None:
        parent_pid = os.getppid()
    elif os.getppid() != parent_pid:  # died before the death signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watchdog", daemon=True).start()


def _release_forkserver() -> None:
    """Close this worker's copy of the forkserver's "alive" pipe.

    The forkserver ends when the process that started it is gone, noticed as the end of that pipe;
    but every process it forks receives a copy of the pipe (to start processes of its own, which
    these workers never do), so the server would wait for its workers while they wait for it, and
    a killed run would leave both behind."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None


def _init_worker() -> None:
    """Worker start-up: quiet PyRadiomics' INFO records; one ITK thread per worker process.

    The pool already uses every core; ITK's thread pool on top only adds start-up and contention
    on the small cropped images. The ITK filters PyRadiomics runs on a crop (cast, crop, label
    statistics, connected components, hashing) give the same result with any number of threads.
    """
    import SimpleITK as sitk

    _release_forkserver()
    tie_to_parent()  # the forkserver, which then ends with the process that started it
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


def discard_pool(kill: bool = False) -> None:
    """Drop a pool that failed (a worker died); the next call starts a fresh one. ``kill``: end its
    processes at once (Ctrl-C: their jobs are no longer wanted, and they ignore SIGINT)."""
    global _pool, _pool_workers
    with _lock:
        pool, _pool, _pool_workers = _pool, None, 0
    if pool is None:
        return
    if kill:  # CPython's table of the pool's processes; without it they end with this process anyway
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                proc.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown_workers() -> None:
    """Stop the shared pool's processes (they are restarted on demand)."""
    _stop_pool(wait=True)


atexit.register(shutdown_workers)
