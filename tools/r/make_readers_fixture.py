"""Build ``tests/fixtures/r/readers_evc1.csv``: the real EVC1 cohort (labels and the published
signature's features, Liu et al. 2024) plus simulated reader and subgroup columns, so that R
(``tools/r/readers_reference.R``) and Python read the same table.

EVC1 has no radiologist reading and no clinical columns, so they are made from real image features
by a stated rule (``tests/test_validate_readers.py`` rebuilds the table and checks it is unchanged):

* ``reader_a`` — an ordinal reading 1–5 (BI-RADS-like): the z-score of deep feature ``f_327``
  (AUC 0.76 on its own) plus Gaussian noise (sd 0.6, ``numpy.random.default_rng(16)``), cut at the
  30th, 50th, 70th and 85th percentiles of the noisy value;
* ``reader_b`` — a binary call ``positive``/``negative``: the z-score of texture feature ``LBP_188``
  plus noise (sd 0.5, same generator, drawn after reader A's), ``positive`` above its 60th percentile;
* ``size_group`` — ``small``/``large``: lesion long axis ``sAX_MX`` at or below / above its median
  (a T-stage-like split);
* ``size_tertile`` — ``small``/``medium``/``large``: ``sAX_MX`` tertiles.

Run: ``.venv/bin/python tools/r/make_readers_fixture.py [EVC1_DIR]`` (default ../shared/data/us-dlr-evc1).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "r" / "readers_evc1.csv"


def _z(x: pd.Series) -> np.ndarray:
    return ((x - x.mean()) / x.std(ddof=1)).to_numpy()


def build(evc1_dir: Path) -> pd.DataFrame:
    """The fixture table from EVC1.csv and published_signature.csv in ``evc1_dir``."""
    d = pd.read_csv(evc1_dir / "EVC1.csv")
    sig = pd.read_csv(evc1_dir / "published_signature.csv")
    features = [f for f in sig["feature"] if f in d.columns]
    rng = np.random.default_rng(16)
    noisy_a = _z(d["f_327"]) + rng.normal(0.0, 0.6, len(d))
    noisy_b = _z(d["LBP_188"]) + rng.normal(0.0, 0.5, len(d))
    out = d[["id", "ALN_status", *features]].copy()
    out["reader_a"] = 1 + np.searchsorted(np.quantile(noisy_a, [0.30, 0.50, 0.70, 0.85]), noisy_a, side="right")
    out["reader_b"] = np.where(noisy_b > np.quantile(noisy_b, 0.60), "positive", "negative")
    size = d["sAX_MX"]
    out["size_group"] = np.where(size <= size.median(), "small", "large")
    out["size_tertile"] = pd.qcut(size, 3, labels=["small", "medium", "large"]).astype(str)
    return out


def main() -> None:
    evc1_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "us-dlr-evc1"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    build(evc1_dir).to_csv(OUT, index=False)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
