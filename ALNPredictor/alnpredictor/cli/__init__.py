"""The ``alnpredictor`` command line: one entry point, one sub-command per module.

Each sub-command lives in its own module ``alnpredictor.cli.<name>`` that defines
``register(subparsers)``; it adds its parser and sets ``func`` (called with the parsed
arguments, returns an exit code). Sub-command modules are discovered here, so adding a
command never touches this file. Heavy imports (torch, radiomics) happen inside ``func``
so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from collections.abc import Sequence

from alnpredictor import __version__
from alnpredictor.errors import ALNPredictorError


def _negative_number_friendly(argv: Sequence[str]) -> list[str]:
    """Join ``--opt -12.5,40,3`` into ``--opt=-12.5,40,3``.

    argparse reads a value starting with ``-`` as an option unless it is a plain number, so a
    coordinate triple typed as users read it in Slicer would be rejected."""
    argv = list(argv)
    fixed: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if tok.startswith("--") and "=" not in tok and re.match(r"^-[\d.]", nxt):
            fixed.append(f"{tok}={nxt}")
            i += 2
        else:
            fixed.append(tok)
            i += 1
    return fixed


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every discovered sub-command."""
    parser = argparse.ArgumentParser(
        prog="alnpredictor",
        description="ALNPredictor: axillary lymph node metastasis prediction from breast MRI / "
        "ultrasound radiomics. Research software, not for diagnostic use.",
    )
    parser.add_argument("--version", action="version", version=f"alnpredictor {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="more logging")
    register_modules(parser.add_subparsers(dest="command", metavar="COMMAND"), "alnpredictor.cli")
    return parser


def register_modules(subparsers: argparse._SubParsersAction, package: str) -> None:
    """Let every module of ``package`` (not starting with ``_``) that defines ``register(subparsers)``
    add its sub-command, in name order: a command or analysis is added without touching its parent."""
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        if hasattr(module, "register"):
            module.register(subparsers)


def _tolerant_output() -> None:
    """A terminal whose encoding cannot print the tool's text (an em dash, µ, a patient's name) gets
    escapes instead of a UnicodeEncodeError traceback after the work is done."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if encoding not in ("utf8", "utf16", "utf32") and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a stream already in use by a reader, or closed
                pass


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the process exit code: 0 success, 1 some cases failed (batch
    commands), 2 a user error (one ``error:`` line), 130 interrupted (Ctrl-C: one line, no traceback;
    what was finished is kept, see the command's notes)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), "")
    _tolerant_output()
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:
        # A cohort run says what it kept ("interrupted; N cases kept, rerun to resume"); elsewhere
        # nothing partial was written (alnpredictor.outputs), so there is nothing else to say.
        message = str(exc) if str(exc).startswith("interrupted") else "interrupted; nothing was changed"
        print(f"alnpredictor{' ' + command if command else ''}: {message}", file=sys.stderr)
        workers = sys.modules.get("alnpredictor.features.workers")
        if workers is not None:  # its workers ignore Ctrl-C: drop the pool rather than wait for their jobs at exit
            workers.discard_pool(kill=True)
        return 130


def _main(argv: list[str]) -> int:
    import logging

    parser = build_parser()
    args = parser.parse_args(_negative_number_friendly(argv))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        # PyRadiomics logs every feature class at INFO (and pykwalify every parameter-file check)
        # and resets its logger's level when it is imported (lazily, later): filter at the handler.
        for handler in logging.getLogger().handlers:
            handler.addFilter(lambda r: not (r.name.startswith(("radiomics", "pykwalify")) and r.levelno < logging.WARNING))
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except ALNPredictorError as exc:
        print(f"alnpredictor {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
