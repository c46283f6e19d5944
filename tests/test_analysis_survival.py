"""``alnpredictor analyze survival`` against R's survival package, on the real Rotterdam and GBSG
cohorts (``../shared/data/survival-breast``).

The reference numbers were computed by ``tools/r/survival_reference.R`` (survfit, survdiff, coxph,
concordance; pROC for the nomogram's cut-off) and committed as ``tests/fixtures/r/survival_*.json``
(CI has no R); every number is matched to 1e-4. Bad input is refused with one named error each.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bad_inputs import assert_refused, run_cli, snapshot

from alnpredictor.config import shared_dir

# a missing shared folder fails these tests loudly (never skips): CI must run them
DATA = shared_dir() / "data" / "survival-breast"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "r"
AT = "365,1095,1826"
CLINICAL = ["age", "meno", "size", "grade", "pgr", "er"]


def r_fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"survival_{name}.json").read_text())


def close(ours, theirs, rel: float = 1e-4) -> None:
    """Equal to R's number to 1e-4 (relative; absolute for values near 0; None = not reached)."""
    if theirs is None:
        assert ours is None, ours
        return
    assert ours == pytest.approx(theirs, rel=rel, abs=1e-10), (ours, theirs)


def assert_matches_r(ours: dict, r: dict) -> None:
    """Every number R reports for the groups, the log-rank test, Cox and Harrell's C."""
    assert (ours["n"], ours["events"]) == (r["n"], r["events"])
    for name in ("high", "low"):
        g, rg = ours["groups"][name], r["groups"][name]
        assert (g["n"], g["events"]) == (rg["n"], rg["events"])
        rc = {k: np.asarray(v, dtype=float) for k, v in rg["curve"].items()}
        at_event = rc["n_event"] > 0  # R lists censoring times too; the curve only steps at events
        np.testing.assert_array_equal(g["curve"]["time"], rc["time"][at_event])
        np.testing.assert_array_equal(g["curve"]["n_risk"], rc["n_risk"][at_event])
        for key in ("survival", "ci_low", "ci_high"):
            np.testing.assert_allclose(g["curve"][key], rc[key][at_event], rtol=1e-4, atol=1e-10, err_msg=key)
        for row, t, s, lo, hi, n_risk in zip(g["at"], *(rg["at"][k] for k in ("time", "survival", "ci_low",
                                                                              "ci_high", "n_risk"))):
            assert row["time"] == t and row["n_risk"] == n_risk
            close(row["survival"], s), close(row["ci_low"], lo), close(row["ci_high"], hi)
        close(g["median"], rg["median"])
        for ours_limit, r_limit in zip(g["median_ci"], rg["median_ci"]):
            close(ours_limit, r_limit)
    close(ours["logrank"]["chisq"], r["logrank"]["chisq"])
    close(ours["logrank"]["p"], r["logrank"]["p"])
    assert ours["logrank"]["observed"] == r["logrank"]["observed"]
    for key in ("coef", "hr", "se", "wald_z", "wald_p", "lr_chisq", "lr_p", "concordance"):
        close(ours["cox"][key], r["cox"][key])
    for ours_limit, r_limit in zip(ours["cox"]["hr_ci"], r["cox"]["hr_ci"]):
        close(ours_limit, r_limit)
    for ours_ll, r_ll in zip(ours["cox"]["loglik"], r["cox"]["loglik"]):
        close(ours_ll, r_ll)
    close(ours["concordance"]["groups"], r["concordance_groups"])
    close(ours["concordance"]["score"], r["concordance_score"])


@pytest.fixture(scope="module")
def rotterdam() -> pd.DataFrame:
    table = pd.read_csv(DATA / "rotterdam.csv")
    table["nodepos"] = (table["nodes"] > 0).astype(int)
    return table


def test_rotterdam_risk_groups_from_r_scores_match_r(rotterdam, tmp_path, capsys):
    """The nomogram's R probabilities on 1988–1993 at R's Youden cut-off: every number as R."""
    r = r_fixture("rotterdam")
    valid = rotterdam[rotterdam["year"] >= 1988].reset_index(drop=True)
    assert valid["pid"].tolist() == r["patients"]["pid"]
    valid["r_probability"] = r["patients"]["probability"]
    valid.to_csv(tmp_path / "valid.csv", index=False)
    out = tmp_path / "out.json"
    res = run_cli(["analyze", "survival", "--score", "r_probability", "--cutoff", repr(r["model"]["cutoff"]),
                   "--features", tmp_path / "valid.csv", "--time", "rtime", "--event", "recur", "--at", AT,
                   "--json", out], capsys)
    assert res.rc == 0, res.err
    ours = json.loads(out.read_text())
    assert_matches_r(ours, r)
    assert ours["cutoff_source"] == "given" and ours["cox_adjusted"] is None
    assert "Cox HR high vs low 1.744 (95% CI 1.514–2.009)" in res.out
    assert "3840 (3442–not reached)" in res.out  # the low-risk group's upper limit is never reached


@pytest.mark.slow
def test_rotterdam_nomogram_trained_here_gives_r_groups(rotterdam, tmp_path, capsys):
    """The whole path a user takes: ``train`` the node-positivity nomogram on surgery years ≤ 1987
    (our statsmodels fit equals R's glm, our Youden cut-off pROC's), then ``analyze survival
    --model`` on 1988–1993 with the model's own cut-off: the same groups and numbers as R."""
    from alnpredictor.models import resolve_model

    r = r_fixture("rotterdam")
    rotterdam[rotterdam["year"] <= 1987].to_csv(tmp_path / "train.csv", index=False)
    valid = rotterdam[rotterdam["year"] >= 1988].reset_index(drop=True)
    valid.to_csv(tmp_path / "valid.csv", index=False)
    bundle = tmp_path / "nodes.alnmodel"
    res = run_cli(["train", "--features", tmp_path / "train.csv", "--label", "nodepos", "--recipe", "nomogram",
                   "--clinical", *CLINICAL, "--choice", "size", "--out", bundle], capsys)
    assert res.rc == 0, res.err
    model = resolve_model(bundle)
    np.testing.assert_allclose(model.decision_function(valid), r["patients"]["lp"], rtol=1e-6, atol=1e-6)
    assert model.cutoff == pytest.approx(r["model"]["cutoff"], abs=1e-7)
    out = tmp_path / "out.json"
    res = run_cli(["analyze", "survival", "--model", bundle, "--features", tmp_path / "valid.csv",
                   "--time", "rtime", "--event", "recur", "--at", AT, "--json", out], capsys)
    assert res.rc == 0, res.err
    ours = json.loads(out.read_text())
    assert ours["cutoff_source"] == "model (training cohort)"
    assert ours["source"]["model"] == "nodes"
    assert_matches_r(ours, r)


def test_gbsg_hormone_therapy_unadjusted_and_adjusted_match_r(tmp_path, capsys):
    """GBSG by hormone therapy (hormon ≥ 0.5 is the 'high' side), Cox also adjusted for seven
    covariates: HR, Wald CI and p, likelihood-ratio test of the group, C of the adjusted model."""
    r = r_fixture("gbsg")
    out, plots = tmp_path / "gbsg.json", tmp_path / "plots"
    res = run_cli(["analyze", "survival", "--score", "hormon", "--cutoff", "0.5", "--features", DATA / "gbsg.csv",
                   "--time", "rfstime", "--event", "status", "--at", AT,
                   "--covariates", ",".join(r["cox_adjusted"]["covariates"]), "--json", out, "--plots", plots],
                  capsys)
    assert res.rc == 0, res.err
    ours = json.loads(out.read_text())
    assert_matches_r(ours, r)
    adj, r_adj = ours["cox_adjusted"], r["cox_adjusted"]
    assert adj["covariates"] == r_adj["covariates"] and adj["n"] == r["n"]
    for key in ("coef", "hr", "se", "wald_z", "wald_p", "lr_chisq", "lr_p", "concordance"):
        close(adj[key], r_adj[key])
    for ours_limit, r_limit in zip(adj["hr_ci"], r_adj["hr_ci"]):
        close(ours_limit, r_limit)
    for name, hr in r_adj["covariate_hr"].items():
        close(adj["covariate_hr"][name], hr)
    # the figure: PNG and SVG, nothing else left in the folder
    assert sorted(p.name for p in plots.iterdir()) == ["survival-km.png", "survival-km.svg"]
    assert (plots / "survival-km.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Number at risk" in (plots / "survival-km.svg").read_text()


def test_figure_counts_at_risk_from_the_data():
    """The numbers at risk under the curves are the patients still followed at each tick."""
    from alnpredictor.analysis.survival import survival_analysis, survival_figure

    table = pd.read_csv(DATA / "gbsg.csv")
    t, e, high = (table["rfstime"].to_numpy(float), table["status"].to_numpy(int),
                  table["hormon"].to_numpy(float))
    res = survival_analysis(t, e, high, 0.5)
    for name, mask in (("high", high >= 0.5), ("low", high < 0.5)):
        res["groups"][name].update(last_time=t[mask].max(), all_times=t[mask],
                                   censored_times=np.unique(t[mask][e[mask] == 0]))
    fig = survival_figure(res)
    table_ax = fig.axes[1]
    drawn = {(round(txt.get_position()[0]), txt.get_position()[1], txt.get_text()) for txt in table_ax.texts}
    for tick in table_ax.get_xticks():
        assert (round(tick), 0, str(int((t[high >= 0.5] >= tick).sum()))) in drawn
        assert (round(tick), 1, str(int((t[high < 0.5] >= tick).sum()))) in drawn


def test_median_cutoff_is_said(tmp_path, capsys):
    """With --score and no --cutoff the median splits the cohort, and the output says so."""
    out = tmp_path / "o.json"
    res = run_cli(["analyze", "survival", "--score", "age", "--features", DATA / "gbsg.csv", "--time", "rfstime",
                   "--event", "status", "--json", out], capsys)
    assert res.rc == 0, res.err
    ours = json.loads(out.read_text())
    assert ours["cutoff"] == float(pd.read_csv(DATA / "gbsg.csv")["age"].median())
    assert ours["cutoff_source"].startswith("median")
    assert "warning [cutoff_median]" in res.out


@pytest.mark.parametrize("times, events, expected", [
    # the curve sits exactly at one half, then drops: half-way (R prints 3)
    ([1, 2, 3, 4], [1, 1, 0, 1], 3.0),
    # the curve ends exactly at one half: the first time it gets there (R prints 3)
    ([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 0, 0], 3.0),
    # never reaches one half (R prints NA)
    ([1, 2, 3, 4, 5, 6], [1, 0, 0, 0, 0, 0], None),
])
def test_median_follows_r_at_exactly_one_half(times, events, expected):
    from alnpredictor.analysis.survival import kaplan_meier

    assert kaplan_meier(np.asarray(times, float), np.asarray(events))["median"] == expected


# --------------------------------------------------------------------------------------------
# bad input catalogue: exit 2, one named error, nothing written
# --------------------------------------------------------------------------------------------

def _gbsg_changed(change):
    def make(folder: Path) -> Path:
        table = pd.read_csv(DATA / "gbsg.csv")
        change(table)
        path = folder / "gbsg.csv"
        table.to_csv(path, index=False)
        return path
    return make


def _without(column):
    def change(t):
        del t[column]
    return change


def _negative(t):
    t.loc[[4, 9], "rfstime"] = -30


def _events_1_2(t):
    t["status"] = t["status"] + 1  # R's Surv 1/2 coding


def _nan_times(t):
    t["rfstime"] = t["rfstime"].astype(float)
    t.loc[[2, 7], "rfstime"] = np.nan


CATALOGUE = {
    "time column missing": (_gbsg_changed(_without("rfstime")), [], ("--time", "rfstime")),
    "event column missing": (_gbsg_changed(_without("status")), [], ("--event", "status")),
    "negative times": (_gbsg_changed(_negative), [], ("rfstime", "negative", "rows 5, 10")),
    "events not 0/1": (_gbsg_changed(_events_1_2), [], ("status", "0 (censored) or 1 (event)", "found 2")),
    "single group": (_gbsg_changed(lambda t: None), ["--cutoff", "2"], ("cut-off 2", "single group", "hormon")),
    "NaN times": (_gbsg_changed(_nan_times), [], ("rfstime", "missing values", "rows 3, 8")),
}


@pytest.mark.parametrize("case", list(CATALOGUE))
def test_bad_input_is_refused_with_a_named_error(case, tmp_path, capsys):
    make, extra, names = CATALOGUE[case]
    (tmp_path / "in").mkdir()
    table = make(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(out)
    args = ["analyze", "survival", "--score", "hormon", "--features", table, "--time", "rfstime", "--event",
            "status", "--json", out / "res.json", "--plots", out / "plots"]
    if "--cutoff" not in extra:
        args += ["--cutoff", "0.5"]
    res = run_cli([*args, *extra], capsys)
    assert_refused(res, *names, before=before, folder=out)
