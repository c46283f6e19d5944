"""A command's JSON results and figures written together, all or none.

``validate`` and every ``analyze`` kind write ``--json OUT.json`` and figures into ``--plots DIR``;
:func:`results_group` stages the JSON in an :class:`~alnpredictor.outputs.OutputGroup`, hands the
group and the plots folder to the caller to stage its figures, and commits on leaving the block. On
any error nothing is written, and a plots folder created for this run is removed again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from alnpredictor.errors import OutputError
from alnpredictor.outputs import OutputGroup, output_error


@contextlib.contextmanager
def results_group(json_path: str | Path | None, payload: Any, plots: str | Path | None
                  ) -> Iterator[tuple[OutputGroup, Path | None]]:
    """Yield (group, plots folder or None) with ``payload`` staged as JSON at ``json_path`` (when
    given; NaN refused: the payload is made JSON-safe first); commit when the block ends."""
    from alnpredictor.jsonsafe import json_safe

    folder = Path(plots) if plots else None
    folder_is_new = folder is not None and not folder.exists()
    try:
        with OutputGroup() as group:
            if json_path:
                group.write_json(Path(json_path), json_safe(payload), allow_nan=False)
            if folder is not None:
                if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
                    raise OutputError(f"could not write {folder}: --plots needs a folder (not a file or a link)")
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise output_error(folder, exc) from exc
            yield group, folder
            group.commit()
    except BaseException:
        if folder_is_new:  # only if empty: never removes anything that was there
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def write_results(json_path: str | Path | None, payload: Any, plots: str | Path | None,
                  figures: Mapping[str, Any]) -> list[Path]:
    """The JSON and each figure (``stem`` → matplotlib figure, as ``stem.png`` + ``stem.svg`` in
    ``plots``), all or none; returns the paths written."""
    from alnpredictor.report.figures import save_figure

    written: list[Path] = [Path(json_path)] if json_path else []
    with results_group(json_path, payload, plots) as (group, folder):
        if folder is not None:
            for stem, fig in figures.items():
                written += save_figure(fig, folder / stem, group=group)
    return written
