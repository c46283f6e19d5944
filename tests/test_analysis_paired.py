"""``alnpredictor analyze paired``: pre-/post-NAC paired changes checked against R.

The cohort: there is no real pre/post-NAC cohort in the shared data, so the "pre" table is 60 real
patients of the external ultrasound validation cohort (``us-dlr-evc1/EVC1.csv``: real feature
distributions, 14 features of several kinds) and the "post" table follows a documented change model
(:func:`make_paired_tables`). Both are committed as CSV fixtures so that R and Python read the same
numbers; ``tools/r/paired_reference.R`` computed ``tests/fixtures/r/paired_reference.json`` from them
(R's wilcox.test paired and two-sample, p.adjust BH), and the tests match it to 1e-10. CI has no R.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bad_inputs import assert_refused, run_cli, snapshot

from alnpredictor.analysis import paired

FIXTURES = Path(__file__).parent / "fixtures" / "r"
PRE, POST, REFERENCE = FIXTURES / "paired_pre.csv", FIXTURES / "paired_post.csv", FIXTURES / "paired_reference.json"

#: EVC1 column → the kind of change the model gives it.
FEATURES = {
    "sAX_MX": "size", "sAX_MN": "size", "sROUND": "shape", "sLS": "shape",
    "hEtp": "texture", "hSk": "texture", "hCtr": "signed", "PS_D": "signed",
    "glcm_contr_D1_mean": "texture", "glcm_entro_D1_mean": "texture",
    "mMU": "count", "mMA": "count", "f_1939": "texture", "FD": "none",
}


def make_paired_tables(evc1: Path, n: int = 60, seed: int = 16) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pre = ``n`` real EVC1 patients (``pandas.sample``, ``random_state=seed``); post by this change model
    (``numpy`` generator ``seed``), pCR drawn with probability 0.35:

    * size (long/short axis): × exp(−0.6 pCR / −0.15 non-pCR + 0.2 ε) — shrinks, much more with pCR;
    * shape: × exp(+0.08 pCR / 0 + 0.06 ε); texture: × exp(−0.1 pCR / −0.02 + 0.1 ε);
    * signed features (can be < 0): + SD × (0.4 pCR / 0.05 + 0.5 ε);
    * counts (integers): ± 1 at random, one fewer for half the pCR patients, at least 1 — zero
      changes and ties (R's normal approximation);
    * FD: unchanged (no test, as R's NaN); one post value of hSk missing (that pair is left out).

    Values are rounded to 6 significant digits, so that both languages parse the same doubles."""
    rng = np.random.default_rng(seed)
    rows = pd.read_csv(evc1).sample(n=n, random_state=seed).reset_index(drop=True)
    pre = rows[list(FEATURES)].astype(float)
    pcr = (rng.random(n) < 0.35).astype(int)
    post = pre.copy()
    for f, kind in FEATURES.items():
        x = pre[f].to_numpy()
        if kind == "size":
            post[f] = x * np.exp(np.where(pcr == 1, -0.6, -0.15) + 0.2 * rng.normal(size=n))
        elif kind == "shape":
            post[f] = x * np.exp(np.where(pcr == 1, 0.08, 0.0) + 0.06 * rng.normal(size=n))
        elif kind == "texture":
            post[f] = x * np.exp(np.where(pcr == 1, -0.1, -0.02) + 0.1 * rng.normal(size=n))
        elif kind == "signed":
            post[f] = x + np.nanstd(x) * (np.where(pcr == 1, 0.4, 0.05) + 0.5 * rng.normal(size=n))
        elif kind == "count":
            post[f] = np.maximum(1, x + rng.choice([-1, 0, 0, 1], size=n) - pcr * rng.integers(0, 2, n))
    pre, post = pre.map(lambda v: float(f"{v:.6g}")), post.map(lambda v: float(f"{v:.6g}"))
    post.loc[5, "hSk"] = np.nan
    ids = [f"P{i:03d}" for i in range(1, n + 1)]
    pre.insert(0, "patient", ids)
    post.insert(0, "patient", ids)
    pre.insert(1, "pCR", pcr)
    return pre, post


def _write_fixtures(shared: Path) -> None:  # pragma: no cover - run by hand, then Rscript (see module doc)
    pre, post = make_paired_tables(shared / "data" / "us-dlr-evc1" / "EVC1.csv")
    pre.to_csv(PRE, index=False)
    post.to_csv(POST, index=False)


def test_the_fixtures_are_the_documented_change_model(shared_dir):
    """The committed tables are exactly what the change model makes from the real EVC1 patients."""
    pre, post = make_paired_tables(shared_dir / "data" / "us-dlr-evc1" / "EVC1.csv")
    pd.testing.assert_frame_equal(pd.read_csv(PRE), pre, check_exact=True, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_csv(POST), post, check_exact=True, check_dtype=False)


@pytest.fixture(scope="module")
def analysed():
    pre, post, group = paired.align_tables(pd.read_csv(PRE), pd.read_csv(POST), "patient", group_col="pCR")
    return paired.paired_changes(pre, post, group), json.loads(REFERENCE.read_text())


def _close(ours, theirs, tol=1e-10):
    if theirs is None:
        return ours is None
    return ours is not None and math.isclose(ours, theirs, rel_tol=0, abs_tol=tol)


def _match(rows, reference, stat):
    assert [r["feature"] for r in rows] == [r["feature"] for r in reference]
    for ours, theirs in zip(rows, reference):
        f = ours["feature"]
        assert _close(ours[stat], theirs[stat]), (f, stat, ours[stat], theirs[stat])
        assert _close(ours["p"], theirs["p"]), (f, ours["p"], theirs["p"])
        assert _close(ours["q"], theirs["q"]), (f, ours["q"], theirs["q"])
        assert ours["method"] == theirs["method"], (f, ours["method"], theirs["method"])


def test_signed_rank_and_bh_match_r(analysed):
    """Every feature, all patients and within each group: V, p, BH q and R's choice of exact vs
    normal approximation (zeros, ties, n ≥ 50), complete pairs and zero counts."""
    res, ref = analysed
    _match(res["overall"], ref["overall"], "V")
    for ours, theirs in zip(res["overall"], ref["overall"]):
        assert (ours["n"], ours["n_zero"]) == (theirs["n"], theirs["n_zero"])
    assert res["groups"]["levels"] == ref["levels"] == ["0", "1"]
    for level in ref["levels"]:
        _match(res["groups"]["within"][level], ref["within"][level], "V")
    # the fixture exercises both of R's branches and the no-change case
    methods = {r["method"] for rows in [ref["overall"], *ref["within"].values()] for r in rows}
    assert methods == {"exact", "normal", None}
    fd = next(r for r in res["overall"] if r["feature"] == "FD")
    assert fd["p"] is None and fd["q"] is None and fd["n_zero"] == 60


def test_between_group_rank_sum_matches_r(analysed):
    """Rank-sum of the relative changes, first level (non-pCR) vs second: W, p, q, method."""
    res, ref = analysed
    _match(res["groups"]["between"], ref["between"], "W")
    for ours, theirs in zip(res["groups"]["between"], ref["between"]):
        assert (ours["n_0"], ours["n_1"]) == (theirs["n_x"], theirs["n_y"])
    size = next(r for r in res["groups"]["between"] if r["feature"] == "sAX_MX")
    assert size["q"] < 0.001 and size["median_change_1"] < size["median_change_0"] < 0  # pCR shrinks more


def test_relative_change_is_signed_by_the_change_and_undefined_at_zero():
    rel = paired.relative_change(np.array([2.0, -3.0, 1.0, np.nan]), np.array([1.0, -2.0, 0.0, 1.0]))
    np.testing.assert_array_equal(rel[:2], [1.0, -0.5])
    assert np.isnan(rel[2:]).all()


@pytest.mark.slow
def test_cli_writes_json_and_the_clustered_heat_map(tmp_path, capsys):
    """The command as typed: printed table, JSON (all numbers, R's), heat map PNG + SVG."""
    out = tmp_path / "out"
    result = run_cli(["analyze", "paired", "--pre", PRE, "--post", POST, "--id", "patient", "--group", "pCR",
                      "--json", out / "paired.json", "--plots", out / "plots"], capsys)
    assert result.rc == 0, result.err
    assert "60 patients, 14 features" in result.out and "pCR = 1:" in result.out and "sAX_MX" in result.out
    data = json.loads((out / "paired.json").read_text())
    ref = json.loads(REFERENCE.read_text())
    assert _close(data["overall"][0]["p"], ref["overall"][0]["p"])
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["paired-heatmap.png", "paired-heatmap.svg"]
    assert (out / "plots" / "paired-heatmap.png").stat().st_size > 10_000


# --------------------------------------------------------------------------- bad input (catalogue rows)
def _tables(tmp_path, edit_pre=None, edit_post=None):
    pre, post = pd.read_csv(PRE), pd.read_csv(POST)
    pre = edit_pre(pre) if edit_pre else pre
    post = edit_post(post) if edit_post else post
    pre.to_csv(tmp_path / "pre.csv", index=False)
    post.to_csv(tmp_path / "post.csv", index=False)
    return tmp_path / "pre.csv", tmp_path / "post.csv"


BAD = {
    "different patients": (dict(edit_post=lambda t: t.iloc[1:]), [], ["different patients", "P001", "pre.csv"]),
    "a patient renamed": (dict(edit_post=lambda t: t.replace({"patient": {"P002": "P999"}})), [],
                          ["different patients", "P002", "P999"]),
    "different features": (dict(edit_post=lambda t: t.drop(columns=["hEtp"])), [],
                           ["different features", "hEtp", "--features"]),
    "a listed feature missing": (dict(), ["--features", "sAX_MX,nope"], ["nope", "--features"]),
    "duplicate patient": (dict(edit_pre=lambda t: pd.concat([t, t.iloc[[0]]])), [], ["P001", "more than once"]),
    "a single group": (dict(edit_pre=lambda t: t.assign(pCR=1)), ["--group", "pCR"], ["single group", "pCR"]),
    "three groups": (dict(edit_pre=lambda t: t.assign(pCR=np.arange(len(t)) % 3)), ["--group", "pCR"],
                     ["3 groups", "pCR"]),
    "group column missing": (dict(), ["--group", "response"], ["response", "--group"]),
    "id column missing": (dict(), [], ["no id column", "--id"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_by_name(tmp_path, capsys, case):
    edits, extra, names = BAD[case]
    pre, post = _tables(tmp_path, **edits)
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(out)
    id_col = "case" if case == "id column missing" else "patient"
    result = run_cli(["analyze", "paired", "--pre", pre, "--post", post, "--id", id_col, *extra,
                      "--json", out / "r.json", "--plots", out / "plots"], capsys)
    assert_refused(result, *names, before=before, folder=out)
