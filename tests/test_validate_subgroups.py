"""``validate --subgroup COL``: AUC per subgroup, a test of heterogeneity between subgroups and a
forest plot (issue 16, item 5).

Two subgroups: pROC's unpaired ``roc.test(method="delong")`` (D, t reference with Welch df); three: Cochran's Q of
``metafor::rma(method="FE")`` — both computed by ``tools/r/readers_reference.R`` on
``tests/fixtures/r/readers_evc1.csv`` (EVC1; ``size_group``/``size_tertile`` split the real lesion
long axis ``sAX_MX`` at its median / tertiles)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bad_inputs import assert_refused, run_cli, snapshot

from alnpredictor.models import validate
from alnpredictor.stats.subgroups import MIN_EVENTS, heterogeneity, subgroup_aucs

FIXTURES = Path(__file__).parent / "fixtures" / "r"
TABLE = FIXTURES / "readers_evc1.csv"
TOL = 1e-6


@pytest.fixture(scope="module")
def signature(shared_dir) -> Path:
    return shared_dir / "data" / "us-dlr-evc1" / "published_signature.csv"


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((FIXTURES / "readers_subgroups.json").read_text())


def _groups_match(groups: list[dict], ref_groups: dict, order: list[str]) -> None:
    assert [g["group"] for g in groups] == order
    for g in groups:
        r = ref_groups[g["group"]]
        assert np.allclose([g["auc"], g["auc_se"] ** 2, *g["auc_ci"]], [r["auc"], r["var"], *r["ci"]], rtol=0, atol=TOL)


def test_two_subgroups_match_proc_unpaired_delong(signature, ref):
    res = validate(signature, pd.read_csv(TABLE), "ALN_status", subgroup="size_group")
    sub, r = res["subgroups"], ref["size_group"]
    _groups_match(sub["groups"], r["groups"], r["order"])
    h = sub["heterogeneity"]
    assert h["k"] == 2 and h["method"].startswith("DeLong test for two independent AUCs")
    assert np.allclose([h["statistic"], h["df"], h["p_value"]], [r["d"], r["df"], r["p_value"]], rtol=0, atol=TOL)
    assert h["q"] == pytest.approx(h["statistic"] ** 2)  # for two subgroups Q is D²


def test_three_subgroups_match_metafor_fixed_effect_q(signature, ref, tmp_path, capsys):
    out = tmp_path / "res.json"
    res = run_cli(["validate", "--signature", signature, "--features", TABLE, "--label", "ALN_status",
                   "--subgroup", "size_tertile", "--json", out], capsys)
    assert res.rc == 0, res.err
    sub, r = json.loads(out.read_text())["subgroups"], ref["size_tertile"]
    _groups_match(sub["groups"], r["groups"], r["order"])
    h = sub["heterogeneity"]
    assert h["method"].startswith("Cochran's Q") and h["df"] == r["df"] == 2
    got = [h["statistic"], h["p_value"], h["i2"], h["pooled_auc"], h["pooled_se"]]
    assert np.allclose(got, [r["q"], r["p_value"], r["i2"], r["pooled_auc"], r["pooled_se"]], rtol=0, atol=TOL)
    assert "heterogeneity: Cochran's Q 0.152, df 2, p 0.927, I² 0%" in res.out
    assert "size_tertile=medium: n 37 (20 positive) AUC 0.894 (0.765–1.000)" in res.out


@pytest.mark.slow
def test_forest_plot_png_and_svg_legible(signature, tmp_path, capsys):
    plots = tmp_path / "plots"
    table = pd.read_csv(TABLE)
    table["site"] = np.where(np.arange(len(table)) % 3 == 0, "hospital $B$", "A")  # user text drawn as typed
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    res = run_cli(["validate", "--signature", signature, "--features", path, "--label", "ALN_status",
                   "--subgroup", "site", "--plots", plots], capsys)
    assert res.rc == 0, res.err
    assert (plots / "forest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (plots / "forest.svg").read_text()
    assert "<svg" in svg and "8 plot files written" in res.out

    from alnpredictor.report.figures import nomogram_text_overlaps
    from alnpredictor.report.forest import forest_figure

    sub = validate(signature, table, "ALN_status", subgroup="site")
    fig = forest_figure(sub["subgroups"], {"auc": sub["auc"], "auc_ci": sub["auc_ci"], "n": sub["n"],
                                           "n_positive": sub["n_positive"]})
    fig.canvas.draw()
    assert nomogram_text_overlaps(fig) == []
    texts = {t.get_text() for ax in fig.axes for t in ax.texts} | {t.get_text() for t in fig.texts}
    assert r"site = hospital \$B\$" in texts  # escaped: not parsed as mathtext
    assert any(t.startswith("Heterogeneity (DeLong test") for t in texts)


@pytest.mark.slow
def test_few_events_and_single_class_subgroups_are_named_warnings_not_crashes(signature, tmp_path, capsys):
    """Catalogue row: a subgroup with one class only — exit 0, a named warning, no AUC, no test."""
    table = pd.read_csv(TABLE)
    pos = table.index[table["ALN_status"] == 1]
    table["centre"] = "big"
    table.loc[pos[:6], "centre"] = "small"  # 6 events, 0 non-events
    neg = table.index[table["ALN_status"] == 0]
    rng = np.random.default_rng(3)
    table.loc[rng.choice(neg, 25, replace=False).tolist() + rng.choice(pos[6:], 8, replace=False).tolist(),
              "centre"] = "mid"  # 8 events
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    plots = tmp_path / "plots"
    res = run_cli(["validate", "--signature", signature, "--features", path, "--label", "ALN_status",
                   "--subgroup", "centre", "--plots", plots], capsys)
    assert res.rc == 0, res.err
    assert "warning [subgroup_single_class]" in res.out and "small (6 positive, 0 negative)" in res.out
    assert "warning [subgroup_few_events]" in res.out and "mid (8 positive, 25 negative)" in res.out
    assert "centre=mid: n 33 (8 positive) AUC" in res.out and "†" in res.out
    assert "centre=small: n 6 (6 positive) AUC n/a" in res.out
    assert "heterogeneity: D" in res.out  # big vs mid; small takes no part
    assert (plots / "forest.png").is_file()
    h = validate(signature, table, "ALN_status", subgroup="centre")["subgroups"]["heterogeneity"]
    assert h["groups"] == ["big", "mid"] and h["left_out"] == ["small"]


def test_heterogeneity_needs_two_subgroups_and_flags_continuous_columns(signature):
    table = pd.read_csv(TABLE)
    table["all_one"] = "x"
    res = validate(signature, table, "ALN_status", subgroup="all_one")
    h = res["subgroups"]["heterogeneity"]
    assert h["p_value"] is None and "fewer than two subgroups" in h["reason"]
    table["age"] = np.arange(len(table)) % 40 + 30  # continuous: 40 values
    res = validate(signature, table, "ALN_status", subgroup="age")
    assert any(w["code"] == "subgroup_many_levels" and w["details"]["n_levels"] == 40 for w in res["warnings"])


def test_rule_and_zero_variance_are_stated():
    y = np.array([1] * 9 + [0] * 20 + [1] * 15 + [0] * 15)
    score = np.r_[np.linspace(1, 2, 9), np.linspace(-2, -1, 20), np.random.default_rng(0).normal(size=30)]
    rows = subgroup_aucs(["a"] * 29 + ["b"] * 30, y, score)
    assert rows[0]["auc"] == 1.0 and rows[0]["auc_se"] == 0.0 and rows[0]["few_events"] and MIN_EVENTS == 10
    assert "AUC CI unreliable" in rows[0]["note"]
    h = heterogeneity(rows)  # a perfectly separated subgroup has no inverse-variance weight
    assert h["p_value"] is None and h["left_out"] == ["a"]


def test_subgroup_column_missing_is_refused(signature, tmp_path, capsys):
    """Catalogue row: the subgroup column is not in the table (named, with what to do; nothing written)."""
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(out)
    res = run_cli(["validate", "--signature", signature, "--features", TABLE, "--label", "ALN_status",
                   "--subgroup", "subtype", "--json", out / "r.json", "--plots", out / "plots"], capsys)
    assert_refused(res, "subtype", "not in the table", "pass --subgroup", before=before, folder=out)
