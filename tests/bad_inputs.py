"""What every row of the bad-input catalogue (``tests/test_bad_inputs*.py``) checks: the command, as
typed, exits 2 with the tool's own one-line message naming the input and what to do, prints no
traceback, and leaves no partial output file (and nothing that was there before is lost)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from alnpredictor.cli import main


@dataclass
class CliResult:
    rc: int
    out: str
    err: str


def run_cli(argv: list[str], capsys) -> CliResult:
    """Run ``alnpredictor ARGV`` in this process (what the console script calls); argparse's refusals
    (its one ``error:`` line, then SystemExit 2) are results too."""
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 2
    captured = capsys.readouterr()
    return CliResult(int(rc), captured.out, captured.err)


def run_cli_process(argv: list[str], cwd: str | os.PathLike | None = None, timeout: float = 600,
                    env: dict | None = None) -> CliResult:
    """Run ``alnpredictor ARGV`` as a separate process (signals, exit codes, stderr as a user sees it)."""
    proc = subprocess.run([sys.executable, "-m", "alnpredictor", *map(str, argv)], cwd=cwd, capture_output=True,
                          text=True, encoding="utf-8", timeout=timeout, env={**os.environ, **(env or {})})
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def snapshot(folder: str | os.PathLike) -> dict[str, tuple[int, float]]:
    """{relative path: (size, mtime)} of every file under ``folder`` (hidden temporaries included)."""
    folder = Path(folder)
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime) for p in folder.rglob("*") if p.is_file()}


def assert_refused(result: CliResult, *must_name: str, before: dict | None = None, folder=None) -> None:
    """Exit 2, one line ``alnpredictor CMD: error: ...`` naming each of ``must_name``, no traceback;
    with ``folder`` and ``before`` (a :func:`snapshot`), the folder is exactly as it was."""
    assert result.rc == 2, f"exit {result.rc}, expected 2\nstderr:\n{result.err}"
    assert "Traceback" not in result.err, result.err
    lines = [ln for ln in result.err.splitlines() if "error:" in ln]
    assert len(lines) == 1, f"expected one error line:\n{result.err}"
    for text in must_name:
        assert text.lower() in lines[0].lower(), f"{text!r} not named in: {lines[0]}"
    if folder is not None:
        assert snapshot(folder) == (before or {}), "the output folder changed"
