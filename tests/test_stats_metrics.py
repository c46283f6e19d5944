"""Clopper–Pearson metrics, Youden cut-off, decision curves, NRI/IDI — against reference values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from alnpredictor.errors import InputError
from alnpredictor.stats.decision import decision_curve, net_benefit, treat_all
from alnpredictor.stats.metrics import binary_metrics, clopper_pearson, confusion, youden_cutoff
from alnpredictor.stats.reclassification import idi, nri


def test_clopper_pearson_known_values():
    # closed forms at the boundaries: (alpha/2)^(1/n)
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-9)
    lo, hi = clopper_pearson(10, 10)
    assert lo == pytest.approx(0.025 ** (1 / 10), rel=1e-9) and hi == 1.0
    for k, n in [(39, 45), (58, 67), (3, 17)]:
        ref = binomtest(k, n).proportion_ci(method="exact")
        assert clopper_pearson(k, n) == pytest.approx((ref.low, ref.high), rel=1e-12)
    assert clopper_pearson(0, 0) is None


def test_table_2_signature_row_evc1(shared_dir):
    """Liu et al. 2024 Table 2, EVC1 signature row (percent, 95% CI): ACC 87 (79–92), SENS 87 (73–95),
    SPE 87 (76–94), PPV 81 (67–91), NPV 91 (81–96) — at the Youden cut-off of the signature score."""
    d = shared_dir / "data" / "us-dlr-evc1"
    table = pd.read_csv(d / "EVC1.csv")
    sig = pd.read_csv(d / "published_signature.csv")
    score = table[sig["feature"]].to_numpy() @ sig["coefficient"].to_numpy()
    y = table["ALN_status"].to_numpy()
    cut = youden_cutoff(y, score)
    m = binary_metrics(y, score, cut["cutoff"])
    expected = {"accuracy": (87, 79, 92), "sensitivity": (87, 73, 95), "specificity": (87, 76, 94),
                "ppv": (81, 67, 91), "npv": (91, 81, 96)}
    for key, (v, lo, hi) in expected.items():
        got = m[key]
        assert round(100 * got["value"]) == v, key
        assert (round(100 * got["ci"][0]), round(100 * got["ci"][1])) == (lo, hi), key
        assert got["method"] == "Clopper-Pearson"
    assert m["confusion"] == {"tp": 39, "fp": 9, "tn": 58, "fn": 6}


def test_youden_cutoff_is_midpoint_and_optimal():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.8])
    r = youden_cutoff(y, p)
    # best J: call >= 0.6 (sens 3/4, spec 1) or >= 0.35 (sens 1, spec 3/4): tie -> higher cut-off
    assert r["youden"] == pytest.approx(0.75)
    assert r["cutoff"] == pytest.approx(0.5)  # half-way between 0.4 and 0.6
    assert (r["sensitivity"], r["specificity"]) == (0.75, 1.0)
    c = confusion(y, p, r["cutoff"])
    assert c == {"tp": 3, "fp": 0, "tn": 4, "fn": 1}
    # brute force: no threshold does better
    best = max((p[y == 1] >= t).mean() + (p[y == 0] < t).mean() - 1 for t in np.r_[p, 1.1])
    assert best == pytest.approx(r["youden"])
    with pytest.raises(InputError):
        youden_cutoff(np.zeros(4), np.arange(4.0))


def test_metrics_with_empty_denominator():
    m = binary_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4]), cutoff=0.9)
    assert m["ppv"]["value"] is None and m["ppv"]["ci"] is None  # nobody called positive
    assert m["specificity"]["value"] == 1.0 and m["sensitivity"]["value"] == 0.0


def test_net_benefit_by_hand():
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.6, 0.7, 0.2])
    nb = net_benefit(y, p, [0.5, 0.8])
    assert nb == pytest.approx([2 / 4 - 1 / 4 * 1.0, 1 / 4 - 0])
    assert treat_all(y, [0.5, 0.25]) == pytest.approx([0.5 - 0.5 * 1.0, 0.5 - 0.5 / 3])
    dc = decision_curve(y, {"m": p}, [0.1, 0.5])
    assert dc["treat_none"] == [0.0, 0.0] and dc["models"]["m"][1] == pytest.approx(0.25)
    # a model that calls everybody positive has the treat-all net benefit
    assert net_benefit(y, np.ones(4), [0.3]) == pytest.approx(treat_all(y, [0.3]))
    with pytest.raises(InputError):
        net_benefit(y, p, [0.0])


def test_nri_and_idi_by_hand():
    y = np.array([1, 1, 1, 0, 0])
    old = np.array([0.3, 0.5, 0.6, 0.4, 0.2])
    new = np.array([0.5, 0.4, 0.7, 0.3, 0.3])
    cont = nri(y, old, new)
    assert cont["kind"] == "continuous"
    assert (cont["events_up"], cont["events_down"], cont["nonevents_up"], cont["nonevents_down"]) == (2, 1, 1, 1)
    assert cont["nri"] == pytest.approx(1 / 3)
    var = ((2 / 3 + 1 / 3) - (1 / 3) ** 2) / 3 + ((1 / 2 + 1 / 2) - 0) / 2
    assert cont["se"] == pytest.approx(np.sqrt(var))
    cat = nri(y, old, new, cutoffs=[0.45])
    assert cat["nri"] == pytest.approx(0.0) and cat["kind"] == "categorical"
    r = idi(y, old, new)
    assert r["idi"] == pytest.approx((0.2 - 0.1 + 0.1) / 3 - 0.0)
    assert r["idi"] == pytest.approx(r["discrimination_slope_new"] - r["discrimination_slope_old"])
    d = new - old
    assert r["se"] == pytest.approx(np.sqrt(d[:3].var(ddof=1) / 3 + d[3:].var(ddof=1) / 2))


def test_nri_of_a_better_model_is_positive():
    rng = np.random.default_rng(4)
    y = (rng.random(400) < 0.4).astype(int)
    x1, x2 = rng.normal(size=400) + y, rng.normal(size=400) + y
    old = 1 / (1 + np.exp(-(x1 - 0.4)))
    new = 1 / (1 + np.exp(-(x1 + x2 - 0.8)))
    assert nri(y, old, new)["nri"] > 0.3 and nri(y, old, new)["p_value"] < 1e-3
    assert idi(y, old, new)["idi"] > 0 and idi(y, old, new)["p_value"] < 1e-3
