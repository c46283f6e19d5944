"""AUC, DeLong CI, paired DeLong test and bootstrap CI against published and reference values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from alnpredictor.errors import InputError
from alnpredictor.stats.auc import auc_ci, bootstrap_auc, delong_auc, delong_paired


def _delong_reference(y: np.ndarray, scores: list[np.ndarray]):
    """DeLong et al. (1988) written out literally: kernel psi over every (positive, negative) pair,
    structural components V10 / V01, covariance S = S10/m + S01/n. O(m·n), independent of the
    midrank algorithm under test."""
    yb = y.astype(bool)
    v10s, v01s, aucs = [], [], []
    for s in scores:
        x, z = s[yb], s[~yb]
        psi = (x[:, None] > z[None, :]).astype(float) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    m, n = yb.sum(), (~yb).sum()
    s10 = np.cov(np.vstack(v10s))
    s01 = np.cov(np.vstack(v01s))
    return np.array(aucs), np.atleast_2d(s10 / m + s01 / n)


@pytest.fixture(scope="module")
def evc1(shared_dir):
    d = shared_dir / "data" / "us-dlr-evc1"
    table = pd.read_csv(d / "EVC1.csv")
    sig = pd.read_csv(d / "published_signature.csv")
    score = table[sig["feature"]].to_numpy() @ sig["coefficient"].to_numpy()
    return table["ALN_status"].to_numpy(), score


def test_published_signature_delong_ci_matches_table_2(evc1):
    """Liu et al. 2024, Table 2, EVC1 signature: AUC 0.886 (95% CI 0.815–0.958), DeLong."""
    y, score = evc1
    r = delong_auc(y, score)
    assert round(r.auc, 3) == 0.886
    assert (round(r.ci_low, 3), round(r.ci_high, 3)) == (0.815, 0.958)
    assert r.auc == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert (r.n_positive, r.n_negative) == (45, 67)


def test_hanley_mcneil_1982_ct_ratings():
    """Hanley & McNeil (Radiology 1982) CT rating data: AUC 0.893, SE 0.032 (their formula);
    the DeLong SE of the same data must be close to it."""
    normal = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    abnormal = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    y = np.r_[np.zeros(normal.size), np.ones(abnormal.size)]
    r = delong_auc(y, np.r_[normal, abnormal])
    assert round(r.auc, 3) == 0.893
    assert r.se == pytest.approx(0.032, rel=0.1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_delong_equals_literal_delong_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 90
    y = (rng.random(n) < 0.4).astype(int)
    s1 = np.round(rng.normal(size=n) + y, 1)  # rounding creates ties
    s2 = np.round(0.5 * s1 + rng.normal(size=n), 1)
    aucs, cov = _delong_reference(y, [s1, s2])
    r1 = delong_auc(y, s1)
    assert r1.auc == pytest.approx(aucs[0], abs=1e-12)
    assert r1.auc == pytest.approx(roc_auc_score(y, s1), abs=1e-12)
    assert r1.se ** 2 == pytest.approx(cov[0, 0], rel=1e-10)
    t = delong_paired(y, s1, s2)
    var_diff = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    assert t.se ** 2 == pytest.approx(var_diff, rel=1e-10)
    assert t.difference == pytest.approx(aucs[0] - aucs[1], abs=1e-12)
    from scipy.stats import norm

    assert t.p_value == pytest.approx(2 * norm.sf(abs(t.difference) / np.sqrt(var_diff)), rel=1e-10)


def test_paired_test_identical_scores_and_symmetry():
    rng = np.random.default_rng(5)
    y = (rng.random(80) < 0.5).astype(int)
    s = rng.normal(size=80) + y
    same = delong_paired(y, s, s)
    assert same.difference == 0 and same.p_value == 1.0
    other = rng.normal(size=80) + 0.3 * y
    a, b = delong_paired(y, s, other), delong_paired(y, other, s)
    assert a.z == pytest.approx(-b.z) and a.p_value == pytest.approx(b.p_value)
    assert a.p_value < 0.05  # a strong and a weak score on 80 cases


def test_score_is_never_flipped():
    rng = np.random.default_rng(3)
    y = (rng.random(60) < 0.5).astype(int)
    s = rng.normal(size=60) + 2 * y
    r, rf = delong_auc(y, s), delong_auc(y, -s)
    assert rf.auc == pytest.approx(1 - r.auc)
    assert rf.ci_high < 0.5


def test_bootstrap_ci_agrees_with_delong_on_a_large_cohort():
    rng = np.random.default_rng(11)
    y = (rng.random(600) < 0.35).astype(int)
    s = rng.normal(size=600) + 1.2 * y
    d = delong_auc(y, s)
    b = bootstrap_auc(y, s, n_boot=1000, seed=1)
    assert b.auc == pytest.approx(d.auc)
    assert b.se == pytest.approx(d.se, rel=0.15)
    assert b.ci_low == pytest.approx(d.ci_low, abs=0.02) and b.ci_high == pytest.approx(d.ci_high, abs=0.02)
    assert auc_ci(y, s, method="bootstrap", n_boot=200, seed=1).method.startswith("bootstrap")
    unstrat = bootstrap_auc(y, s, n_boot=300, seed=2, stratified=False)
    assert unstrat.ci_low < d.auc < unstrat.ci_high


def test_ci_is_clipped_to_unit_interval_and_level_changes_width():
    y = np.r_[np.zeros(10), np.ones(10)]
    s = np.r_[np.arange(10), np.arange(10) + 9.5]  # nearly perfect
    r = delong_auc(y, s)
    assert r.ci_high <= 1.0
    assert delong_auc(y, s, level=0.99).ci_low <= delong_auc(y, s, level=0.90).ci_low


def test_bad_inputs_are_refused():
    with pytest.raises(InputError, match="0/1"):
        delong_auc(np.array([0, 2, 1, 0]), np.arange(4.0))
    with pytest.raises(InputError, match="at least 2 positive"):
        delong_auc(np.array([0, 0, 0, 1]), np.arange(4.0))
    with pytest.raises(InputError, match="NaN"):
        delong_auc(np.array([0, 0, 1, 1]), np.array([0.1, np.nan, 0.3, 0.4]))
    with pytest.raises(InputError, match="unknown AUC CI method"):
        auc_ci(np.array([0, 0, 1, 1]), np.arange(4.0), method="magic")
