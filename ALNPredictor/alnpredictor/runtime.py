"""Process-level settings shared by every pathway: library threads and peak memory.

ITK's multi-threaded registration and N4 give results that differ in the last bits between thread
counts, so a patient must be processed with the same number of threads whichever front door runs
it (Slicer panel, ``extract --case-dir``, the cohort runner with any number of workers, Dask):
:func:`library_threads` pins it for the duration of one case and restores the caller's setting.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def library_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` ITK and BLAS/OpenMP threads, then restore the previous counts."""
    import SimpleITK as sitk
    from threadpoolctl import threadpool_limits

    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(threads))
    try:
        with threadpool_limits(int(threads)):
            yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (``resource`` on Unix, psutil elsewhere, e.g. Windows)."""
    try:
        import resource
    except ImportError:  # Windows: no resource module
        import psutil

        info = psutil.Process().memory_info()
        return float(getattr(info, "peak_wset", info.rss)) / 2**20
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0**2
