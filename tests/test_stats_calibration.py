"""Calibration statistics against scikit-learn, statsmodels and an independent HL computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit
from scipy.stats import chi2
from sklearn.metrics import brier_score_loss

from alnpredictor.errors import InputError
from alnpredictor.stats.calibration import (
    brier_score,
    calibration,
    calibration_curve,
    hosmer_lemeshow,
    slope_intercept,
)


def _cohort(n=3000, seed=0, a=0.0, b=1.0):
    """Outcomes drawn from expit(a + b·lp): calibration slope b and intercept a by design."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(-0.4, 1.3, size=n)
    y = (rng.random(n) < expit(a + b * lp)).astype(int)
    return y, lp


def test_brier_matches_scikit_learn():
    y, lp = _cohort(500)
    p = expit(lp)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), rel=1e-12)


def test_slope_and_intercept_match_statsmodels_logit():
    y, lp = _cohort(800, seed=2, a=0.3, b=0.7)
    p = expit(lp)
    r = slope_intercept(y, p)
    fit = sm.Logit(y, sm.add_constant(lp)).fit(disp=0)
    assert r["slope"] == pytest.approx(fit.params[1], rel=1e-6)
    assert r["intercept_with_slope"] == pytest.approx(fit.params[0], rel=1e-6)
    citl = sm.GLM(y, np.ones_like(lp), family=sm.families.Binomial(), offset=lp).fit()
    assert r["intercept"] == pytest.approx(citl.params[0], rel=1e-6)
    # both intercepts under explicit names: val.prob's Intercept (slope estimated) and the
    # calibration-in-the-large (slope fixed at 1) differ when the slope is not 1
    assert r["calibration_in_the_large"] == r["intercept"] and r["val_prob_intercept"] == r["intercept_with_slope"]
    assert r["val_prob_slope"] == r["slope"]
    assert abs(r["val_prob_intercept"] - r["calibration_in_the_large"]) > 0.05


def test_calibrated_and_miscalibrated_predictions():
    y, lp = _cohort(4000, seed=1)
    good = slope_intercept(y, expit(lp))
    assert good["slope"] == pytest.approx(1.0, abs=0.1) and good["intercept"] == pytest.approx(0.0, abs=0.1)
    overfit = slope_intercept(y, expit(2 * lp))  # too extreme predictions -> slope about 1/2
    assert overfit["slope"] == pytest.approx(0.5, abs=0.06)
    shifted = slope_intercept(y, expit(lp + 1.0))  # risks overestimated -> intercept about -1
    assert shifted["intercept"] == pytest.approx(-1.0, abs=0.1)


def _hl_reference(y, p, g=10):
    """hoslem.test: groups = cut(p, unique(quantile(p, 0:g/g)), include.lowest=TRUE)."""
    breaks = np.unique(np.quantile(p, np.linspace(0, 1, g + 1)))
    grp = pd.cut(p, bins=breaks, include_lowest=True, right=True)
    df = pd.DataFrame({"y": y, "p": p, "g": grp})
    obs1 = df.groupby("g", observed=True)["y"].sum()
    exp1 = df.groupby("g", observed=True)["p"].sum()
    n = df.groupby("g", observed=True).size()
    stat = (((obs1 - exp1) ** 2) / exp1 + (((n - obs1) - (n - exp1)) ** 2) / (n - exp1)).sum()
    return stat, len(n) - 2


def test_hosmer_lemeshow_matches_reference_and_detects_miscalibration():
    y, lp = _cohort(600, seed=3)
    p = expit(lp)
    r = hosmer_lemeshow(y, p)
    stat, dof = _hl_reference(y, p)
    assert r["statistic"] == pytest.approx(stat, rel=1e-10) and r["df"] == dof == 8
    assert r["p_value"] == pytest.approx(chi2.sf(stat, dof))
    assert r["p_value"] > 0.01
    assert hosmer_lemeshow(y, expit(lp + 1.2))["p_value"] < 1e-6
    # heavily tied predictions collapse groups, as unique(quantile()) does in R
    tied = np.round(p, 1)
    stat_t, dof_t = _hl_reference(y, tied)
    rt = hosmer_lemeshow(y, tied)
    assert rt["statistic"] == pytest.approx(stat_t, rel=1e-10) and rt["df"] == dof_t


def test_calibration_curves():
    y, lp = _cohort(1000, seed=4)
    p = expit(lp)
    dec = calibration_curve(y, p, bins=10)
    pts = dec["points"]
    assert len(pts) == 10 and sum(q["n"] for q in pts) == 1000
    assert sum(q["observed"] * q["n"] for q in pts) == pytest.approx(y.sum())
    assert all(q["ci"][0] <= q["observed"] <= q["ci"][1] for q in pts)
    assert np.corrcoef([q["predicted"] for q in pts], [q["observed"] for q in pts])[0, 1] > 0.95
    lo = calibration_curve(y, p, method="loess")
    assert np.all(np.diff(lo["predicted"]) >= 0) and min(lo["observed"]) >= 0 and max(lo["observed"]) <= 1
    summary = calibration(y, p)
    assert set(summary) >= {"brier", "slope", "intercept", "hosmer_lemeshow", "curve", "calibration_in_the_large",
                            "val_prob"}
    assert set(summary["val_prob"]) == {"Intercept", "Slope", "Brier", "Emax", "E90", "Eavg"}
    assert summary["val_prob"]["Brier"] == summary["brier"]
    with pytest.raises(InputError):
        calibration_curve(y, p, method="spline")
    with pytest.raises(InputError):
        brier_score(y, p + 2)
