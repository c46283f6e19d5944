"""Our vectorised ICC equals pingouin's intraclass_corr, feature by feature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from alnpredictor.errors import InputError
from alnpredictor.stats.icc import icc, icc_from_raters, keep_features


def _pingouin(x: np.ndarray) -> pd.DataFrame:
    n, k = x.shape
    long = pd.DataFrame({"s": np.repeat(np.arange(n), k), "r": np.tile(np.arange(k), n), "v": x.ravel()})
    return pg.intraclass_corr(long, targets="s", raters="r", ratings="v", nan_policy="omit").set_index("Type")


def test_matches_pingouin_on_its_wine_dataset():
    data = pg.read_dataset("icc")
    wide = data.pivot_table(index="Wine", columns="Judge", values="Scores").to_numpy()
    ours = icc(wide).iloc[0]
    ref = _pingouin(wide)
    assert ours["icc3_1"] == pytest.approx(ref.loc["ICC(C,1)", "ICC"], rel=1e-12)
    assert ours["icc2_1"] == pytest.approx(ref.loc["ICC(A,1)", "ICC"], rel=1e-12)
    assert ours["icc3_1"] == pytest.approx(0.729, abs=5e-4)  # value printed in pingouin's docs


def test_every_number_matches_pingouin_on_many_random_features():
    rng = np.random.default_rng(11)
    n, k, p = 23, 4, 60
    truth = rng.normal(0, rng.uniform(0.2, 3, p), (n, 1, p))
    bias = rng.normal(0, rng.uniform(0, 1, p), (1, k, p))
    noise = rng.normal(0, rng.uniform(0.1, 2, p), (n, k, p))
    cube = 5 + truth + bias + noise
    cube[3, 1, 7] = np.nan  # a missing rating: subject 3 is left out for feature 7
    table = icc(cube, [f"f{j}" for j in range(p)])
    for j in range(p):
        ref = _pingouin(cube[:, :, j])
        row = table.iloc[j]
        c, a = ref.loc["ICC(C,1)"], ref.loc["ICC(A,1)"]
        assert row["icc3_1"] == pytest.approx(c["ICC"], rel=1e-9, abs=1e-12)
        assert row["icc2_1"] == pytest.approx(a["ICC"], rel=1e-9, abs=1e-12)
        assert [row["icc3_1_ci_low"], row["icc3_1_ci_high"]] == pytest.approx(list(c["CI95"]), abs=0.006)
        assert [row["icc2_1_ci_low"], row["icc2_1_ci_high"]] == pytest.approx(list(a["CI95"]), abs=0.006)
        assert row["F"] == pytest.approx(c["F"], rel=1e-9)
        assert row["pval"] == pytest.approx(c["pval"], rel=1e-6, abs=1e-300)
        assert int(row["df2"]) == int(c["df2"])
    assert int(table.loc["f7", "n_subjects"]) == n - 1 and int(table.loc["f6", "n_subjects"]) == n


def test_unrounded_confidence_intervals():
    """pingouin rounds CI95 to 2 decimals; recompute its formula unrounded for one feature."""
    from scipy.stats import f

    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (15, 1)) + rng.normal(0, 0.5, (15, 3))
    row = icc(x).iloc[0]
    n, k = x.shape
    ms = _pingouin(x)
    f3 = ms.loc["ICC(C,1)", "F"]
    f3l = f3 / f.ppf(0.975, n - 1, (n - 1) * (k - 1))
    assert row["icc3_1_ci_low"] == pytest.approx((f3l - 1) / (f3l + k - 1), rel=1e-12)


def test_constant_feature_is_nan_and_never_kept():
    x = np.stack([np.ones((10, 3)), np.random.default_rng(0).normal(size=(10, 3))], axis=2)
    table = icc(x, ["const", "noise"])
    assert np.isnan(table.loc["const", "icc3_1"])
    assert keep_features(table, 0.8) == [] or "const" not in keep_features(table, -1.0)


def test_keep_list_threshold_is_strict_and_ordered():
    rng = np.random.default_rng(4)
    base = rng.normal(0, 1, (30, 1, 1))
    good = base + rng.normal(0, 0.05, (30, 3, 1))
    bad = rng.normal(0, 1, (30, 3, 1))
    table = icc(np.concatenate([bad, good, good * 2], axis=2), ["bad", "good", "good2"])
    assert keep_features(table, 0.8) == ["good", "good2"]
    assert keep_features(table, float(table.loc["good", "icc3_1"])) == [
        n for n in ("good2",) if table.loc["good2", "icc3_1"] > table.loc["good", "icc3_1"]
    ]


def test_icc_from_rater_tables_aligns_subjects_and_features():
    rng = np.random.default_rng(2)
    truth = pd.DataFrame(rng.normal(size=(12, 3)), index=[f"c{i}" for i in range(12)], columns=["a", "b", "c"])
    r1 = truth + rng.normal(0, 0.1, truth.shape)
    r2 = (truth + rng.normal(0, 0.1, truth.shape)).iloc[::-1][["c", "a", "b"]]  # other order
    r2 = r2.drop(index="c0")
    table = icc_from_raters({"reader1": r1, "reader2": r2})
    assert list(table.index) == ["a", "b", "c"]
    assert (table["n_subjects"] == 11).all()
    direct = icc(np.stack([r1.loc[r1.index[1:]].to_numpy(), r2.loc[r1.index[1:], ["a", "b", "c"]].to_numpy()], axis=1),
                 ["a", "b", "c"])
    np.testing.assert_allclose(table["icc3_1"], direct["icc3_1"], rtol=1e-12)


def test_bad_shapes():
    with pytest.raises(InputError, match="at least 2 subjects and 2 raters"):
        icc(np.ones((5, 1)))
    with pytest.raises(InputError, match="shaped"):
        icc(np.ones(5))
