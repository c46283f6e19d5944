"""Synthetic data generators (no patient data ships with the project).

* :mod:`.motion` — another sequence of the same examination from a reference image (own grid,
  contrast mapping, bias field, noise, rigid patient motion), for honest registration/N4 tests.
* :mod:`.mri_study` — one breast-MRI study at clinical matrix sizes with analytic ROIs on every
  sequence's grid (radiomics tests, benchmarks).
* :mod:`.mri_cohort` — the demo's multi-site MRI cohort with clinical data and user-like seeds.
* :mod:`.us_cohort` — a breast-ultrasound cohort whose margin, texture and shadowing carry the label.
"""
