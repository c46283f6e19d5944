"""Write the feature-regression fixtures (tests/fixtures/regression/).

Run once, at commit 4e08d14 (before the application layer was restructured), with
``.venv/bin/python tools/make_regression_fixtures.py``; the CSVs it wrote are committed and
``tests/test_regression_features.py`` compares today's pipeline against them value for value.

* ``breast1.csv`` — breast1 (PyRadiomics' real breast MRI) as contrast T1 with its tumor label as
  ROI ``T`` and the tumor's peritumoral shell as ROI ``L``, propagated with registration to simulated T2/ADC (``rng`` seed 1, as the Logic test
  builds them), N4 on, ``mri-yu2021``: 6 × 851 features.
* ``demo_patient.csv`` — the first synthetic demo patient (``make_cohort(7, {"A": 1})``) through
  the cohort runner with the demo's settings (seeds → grow-cut → registration → N4 (30, 20) →
  ``mri-yu2021``): 5,106 features.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "regression"
sys.path.insert(0, str(ROOT))
from tests.helpers import breast1_inputs  # noqa: E402  (the same inputs the regression test builds)


def main() -> int:
    from alnpredictor.cohort.runner import run_cohort
    from alnpredictor.demo.synthetic_mri import make_cohort, write_patients

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = breast1_inputs(tmp / "b1")
        res = run_cohort(manifest, tmp / "b1-run", workers=1, progress=False,
                         settings={"params": "mri-yu2021", "n4": True, "register": True, "on_roi_error": "nan"})
        table = pd.read_csv(res.features_csv)
        cols = ["case_id"] + [c for c in table.columns if c[:1] in "TL" and "_" in c]
        table[cols].to_csv(OUT / "breast1.csv", index=False, float_format="%.17g")
        print("breast1:", len(cols) - 1, "features")

        manifest = write_patients(make_cohort(7, {"A": 1}), tmp / "demo")
        res = run_cohort(manifest, tmp / "demo-run", workers=1, progress=False,
                         settings={"params": "mri-yu2021", "n4": True, "n4_iterations": (30, 20),
                                   "register": True, "on_roi_error": "nan"})
        table = pd.read_csv(res.features_csv)
        cols = ["case_id"] + [c for c in table.columns if c[:1] in "TL" and "_" in c]
        table[cols].to_csv(OUT / "demo_patient.csv", index=False, float_format="%.17g")
        print("demo patient:", len(cols) - 1, "features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
