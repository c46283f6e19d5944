"""The studies' analyses beyond a validation AUC (``alnpredictor analyze <kind>``).

Each analysis is one module here that defines ``register(subparsers)``: it adds its ``analyze``
sub-command (``survival``, ``paired``, ``reproducibility`` ...) and sets ``func`` (parsed arguments →
exit code). :mod:`alnpredictor.cli.analyze` discovers them, so adding an analysis never touches the
CLI. Every analysis writes JSON (``--json``), figures (``--plots DIR``, PNG + SVG through
:mod:`alnpredictor.outputs`) and prints a short table, like ``validate``.
"""
