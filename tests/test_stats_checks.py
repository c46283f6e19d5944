"""Sanity checks (stable warning codes) and subgroup AUCs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnpredictor.stats import checks
from alnpredictor.stats.auc import delong_auc
from alnpredictor.stats.subgroups import subgroup_aucs


def _table(n, seed, shift=0.0, flip=False, effects=(0.8, -0.6, 0.5, 0.0, 0.3)):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    cols = {f"f{j}": rng.normal(size=n) + e * y + shift for j, e in enumerate(effects)}
    return pd.DataFrame(cols), (1 - y if flip else y)


def test_feature_statistics_and_effect_sign():
    x, y = _table(400, 0)
    st = checks.feature_statistics(x, y, list(x.columns))
    assert st["f0"]["direction"] == 1 and st["f1"]["direction"] == -1
    assert st["f0"]["min"] == pytest.approx(x["f0"].min()) and st["f0"]["n_missing"] == 0
    a, b = x["f0"][y == 1], x["f0"][y == 0]
    pooled = np.sqrt(((a.size - 1) * a.var() + (b.size - 1) * b.var()) / (a.size + b.size - 2))
    assert st["f0"]["effect"] == pytest.approx((a.mean() - b.mean()) / pooled)


def test_effect_direction_disagreement_fires_only_for_inverted_labels():
    xt, yt = _table(300, 1)
    train = checks.feature_statistics(xt, yt, list(xt.columns))
    xv, yv = _table(200, 2)
    assert checks.check_effect_directions(train, xv, yv) is None
    xi, yi = _table(200, 3, flip=True)
    f = checks.check_effect_directions(train, xi, yi)
    assert f is not None and f.code == "effect_direction_disagreement"
    assert f.details["spearman_rho"] < 0 and f.details["share_disagreeing"] > 0.5
    # a one-feature model: every direction flips
    one = {"f0": train["f0"]}
    assert checks.check_effect_directions(one, xi, yi).code == "effect_direction_disagreement"
    assert checks.check_effect_directions(one, xv, yv) is None


def test_auc_below_chance():
    rng = np.random.default_rng(0)
    y = (rng.random(120) < 0.5).astype(int)
    s = rng.normal(size=120) + 1.5 * y
    assert checks.check_auc_below_chance(delong_auc(y, s)) is None
    f = checks.check_auc_below_chance(delong_auc(y, -s))
    assert f.code == "auc_below_chance" and "NOT flipped" in f.message


def test_prevalence_shift():
    assert checks.check_prevalence_shift(0.35, 40, 100) is None
    f = checks.check_prevalence_shift(0.35, 65, 100)
    assert f.code == "prevalence_shift" and f.details["training_prevalence"] == 0.35
    assert checks.check_prevalence_shift(None, 65, 100) is None


def test_out_of_range_features_and_single_case():
    xt, yt = _table(300, 4)
    train = checks.feature_statistics(xt, yt, list(xt.columns))
    xv, _ = _table(100, 5)
    assert checks.check_feature_ranges(train, xv) is None
    xv["f2"] = xv["f2"] * 10  # e.g. different units
    f = checks.check_feature_ranges(train, xv)
    assert f.code == "feature_out_of_training_range" and list(f.details["features"]) == ["f2"]
    assert f.details["features"]["f2"] > 0.5
    case = checks.case_out_of_range(train, {"f0": 0.0, "f1": 99.0})
    assert list(case.details["features"]) == ["f1"]
    assert checks.case_out_of_range(train, {"f0": 0.0}) is None


def test_missing_features():
    x, _ = _table(10, 6)
    assert checks.check_missing(x, ["f0", "f1"]) is None
    x.loc[[1, 3], "f1"] = np.nan
    f = checks.check_missing(x, ["f0", "f1"])
    assert f.code == "missing_features" and f.details == {"n_cases": 2, "per_feature": {"f1": 2}}
    assert set(checks.CODES) >= {"auc_below_chance", "effect_direction_disagreement", "prevalence_shift",
                                 "feature_out_of_training_range", "missing_features"}


def test_subgroup_aucs():
    rng = np.random.default_rng(7)
    n = 300
    y = (rng.random(n) < 0.4).astype(int)
    group = rng.choice(["LumA", "LumB", "TN"], n).astype(object)
    s = rng.normal(size=n) + np.where(group == "TN", 0.0, 1.5) * y
    group[:3] = None
    rows = subgroup_aucs(group, y, s)
    by = {r["group"]: r for r in rows}
    assert set(by) == {"LumA", "LumB", "TN"}
    sel = np.asarray(group == "LumA")
    assert by["LumA"]["auc"] == pytest.approx(delong_auc(y[sel], s[sel]).auc)
    assert by["LumA"]["auc"] > 0.75 and by["TN"]["auc"] < by["LumA"]["auc"]
    tiny = subgroup_aucs(np.r_[["a"] * 3, ["b"] * 20], np.r_[[1, 1, 1], [0, 1] * 10], np.arange(23.0))
    assert tiny[0]["auc"] is None and "too few" in tiny[0]["note"]
