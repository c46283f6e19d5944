"""``validate --reader COL``: the model against radiologists' readings (issue 16, item 4).

Numbers are checked against R (pROC 1.18 ``roc.test(paired=TRUE, method="delong")``, ``ci.auc``,
``binom.test``, Hmisc ``improveProb``) computed by ``tools/r/readers_reference.R`` on
``tests/fixtures/r/readers_evc1.csv`` (real EVC1 labels and signature features; the readers are
simulated from real image features by the rule in ``tools/r/make_readers_fixture.py``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bad_inputs import assert_refused, run_cli, snapshot

from alnpredictor.models import validate

FIXTURES = Path(__file__).parent / "fixtures" / "r"
TABLE = FIXTURES / "readers_evc1.csv"
TOL = 1e-6


@pytest.fixture(scope="module")
def signature(shared_dir) -> Path:
    return shared_dir / "data" / "us-dlr-evc1" / "published_signature.csv"


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((FIXTURES / "readers_evc1.json").read_text())


cli = run_cli  # argparse refusals included


def test_fixture_table_is_the_documented_rule_on_evc1(shared_dir):
    """The committed table R read is exactly what the stated rule makes from EVC1 today."""
    spec = importlib.util.spec_from_file_location("make_readers_fixture",
                                                  Path(__file__).parents[1] / "tools" / "r" / "make_readers_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rebuilt = module.build(shared_dir / "data" / "us-dlr-evc1")
    committed = pd.read_csv(TABLE)
    pd.testing.assert_frame_equal(rebuilt.reset_index(drop=True), committed, check_dtype=False, rtol=1e-15)


def _close(a, b) -> None:
    assert np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=TOL), (a, b)


def _check_reader(mine: dict, r: dict, model_cut: float) -> None:
    assert mine["threshold"] == r["threshold"]
    _close(mine["reader_auc"]["auc"], r["reader_auc"]["auc"])
    _close(mine["reader_auc"]["se"] ** 2, r["reader_auc"]["var"])
    _close(mine["reader_auc"]["ci"], r["reader_auc"]["ci"])
    d = r["delong_paired"]
    _close([mine["delong"]["z"], mine["delong"]["p_value"]], [d["z"], d["p_value"]])
    _close([mine["delong"]["auc1"], mine["delong"]["auc2"]], [d["auc_model"], d["auc_reader"]])
    _close(mine["delong"]["ci"], d["ci"])
    for who in ("reader", "model"):
        for key in ("sensitivity", "specificity"):
            m, e = mine[who][key], r[who][key]
            assert (m["k"], m["n"]) == (e["k"], e["n"])
            _close([m["value"], *m["ci"]], [e["value"], *e["ci"]])
    assert mine["model"]["cutoff"] == pytest.approx(model_cut, abs=TOL)
    _close(mine["mcnemar"]["sensitivity"]["p_value"], r["mcnemar_sensitivity_p"])
    _close(mine["mcnemar"]["specificity"]["p_value"], r["mcnemar_specificity_p"])
    n = mine["nri_categorical"]
    _close([n["nri"], n["se"], n["z"], n["nri_events"], n["nri_nonevents"]],
           [r["nri"]["nri"], r["nri"]["se"], r["nri"]["z"], r["nri"]["events"], r["nri"]["nonevents"]])
    _close([mine["idi"]["idi"], mine["idi"]["se"], mine["idi"]["z"]], [r["idi"]["idi"], r["idi"]["se"], r["idi"]["z"]])


def test_cli_readers_match_proc_and_hmisc(signature, ref, tmp_path, capsys):
    """Acceptance: ``validate --reader reader_a --reader-threshold reader_a=4 --reader reader_b`` as typed."""
    out = tmp_path / "res.json"
    res = cli(["validate", "--signature", signature, "--features", TABLE, "--label", "ALN_status",
               "--reader", "reader_a", "--reader-threshold", "reader_a=4", "--reader", "reader_b", "--json", out],
              capsys)
    assert res.rc == 0, res.err
    data = json.loads(out.read_text())
    _close([data["auc"], data["auc_se"] ** 2, *data["auc_ci"]],
           [ref["model_auc"]["auc"], ref["model_auc"]["var"], *ref["model_auc"]["ci"]])
    _close(data["cutoff"], ref["model_cutoff"])  # Youden midpoint: the same rule as pROC's coords("best")
    a, b = data["readers"]
    assert (a["column"], a["kind"], a["levels"], a["threshold_source"]) == ("reader_a", "ordinal", [1, 2, 3, 4, 5],
                                                                            "given")
    assert (b["column"], b["kind"], b["coding"]) == ("reader_b", "binary", {"negative": 0, "positive": 1})
    _check_reader(a, ref["reader_a_stated"], ref["model_cutoff"])
    _check_reader(b, ref["reader_b"], ref["model_cutoff"])
    # the printed table says it in words
    assert "reader reader_a (ordinal 1–5, positive >= 4 (given)): n 112 (45 positive)" in res.out
    assert "AUC reader 0.658 (0.557–0.759), model 0.886 (0.815–0.958); model − reader +0.228" in res.out
    assert "positive patients: model calls 22 correctly that the reader missed, 2 wrongly" in res.out
    assert "reader reader_b (binary call)" in res.out


def test_ordinal_reader_without_threshold_uses_youden_with_a_warning(signature, ref):
    res = validate(signature, pd.read_csv(TABLE), "ALN_status", readers=["reader_a"])
    (a,) = res["readers"]
    assert a["threshold_source"] == "Youden index on this cohort"
    _check_reader(a, ref["reader_a_youden"], ref["model_cutoff"])
    w = next(w for w in res["warnings"] if w["code"] == "reader_threshold_from_validation_cohort")
    assert w["details"] == {"reader": "reader_a", "threshold": 3}
    # a bare --reader-threshold applies to every ordinal reader
    res4 = validate(signature, pd.read_csv(TABLE), "ALN_status", readers=["reader_a"], reader_thresholds={None: 4})
    assert res4["readers"][0]["threshold"] == 4 and res4["readers"][0]["threshold_source"] == "given"


def test_binary_reading_is_one_operating_point_and_the_table_adds_up(signature):
    res = validate(signature, pd.read_csv(TABLE), "ALN_status", readers=["reader_b"], cutoff=0.05)
    (b,) = res["readers"]
    sens, spec = b["reader"]["sensitivity"]["value"], b["reader"]["specificity"]["value"]
    assert b["reader_auc"]["auc"] == pytest.approx((sens + spec) / 2, abs=1e-12)  # one ROC point
    assert [p["threshold"] for p in b["reader_roc"]] == [1]
    rc, n = b["reclassification"], b["nri_categorical"]
    ev, ne = rc["events"], rc["nonevents"]
    assert ev["moved_right"] == ev["model_positive_reader_negative"] == n["events_up"]
    assert ev["moved_wrong"] == ev["model_negative_reader_positive"] == n["events_down"]
    assert ne["moved_right"] == ne["model_negative_reader_positive"] == n["nonevents_down"]
    assert ne["moved_wrong"] == ne["model_positive_reader_negative"] == n["nonevents_up"]
    assert sum(ev[k] for k in ("both_positive", "both_negative", "moved_right", "moved_wrong")) == ev["n"] == 45
    assert rc["net_moved_right"] == pytest.approx(n["nri_events"] * 45 + n["nri_nonevents"] * 67)
    assert b["model"]["cutoff"] == 0.05


def test_patients_without_a_reading_leave_that_reader_only(signature):
    table = pd.read_csv(TABLE)
    table.loc[[0, 3, 9], "reader_a"] = np.nan
    table["reader_c"] = table["reader_b"].map({"positive": "Yes", "negative": "No"})
    res = validate(signature, table, "ALN_status", readers=["reader_a", "reader_c"], reader_thresholds={None: 4})
    a, c = res["readers"]
    assert (a["n"], a["n_excluded_missing"], c["n"]) == (109, 3, 112)
    assert res["n"] == 112  # the model's own figures keep every patient
    assert a["model_auc"]["auc"] != pytest.approx(res["auc"])  # paired: the model on the read patients only
    assert c["coding"] == {"No": 0, "Yes": 1}
    assert any(w["code"] == "reader_missing_values" and w["details"]["n_missing"] == 3 for w in res["warnings"])


def test_plots_with_readers_still_write_every_figure(signature, tmp_path, capsys):
    plots = tmp_path / "plots"
    res = cli(["validate", "--signature", signature, "--features", TABLE, "--label", "ALN_status",
               "--reader", "reader_b", "--plots", plots], capsys)
    assert res.rc == 0, res.err
    assert {p.name for p in plots.iterdir()} >= {"roc.png", "roc.svg", "readers.png", "readers.svg"}


def _edited(column: str, values, folder: Path) -> Path:
    table = pd.read_csv(TABLE)
    table[column] = values(table) if callable(values) else values
    path = folder / "table.csv"
    table.to_csv(path, index=False)
    return path


# catalogue rows: (id, table edit or None, extra arguments, texts the one error line must name)
READER_ROWS = [
    ("reader-column-missing", None, ["--reader", "radiologist_1"], ["radiologist_1", "not in the table", "--reader"]),
    ("reader-text-not-a-call", ("reader_x", lambda t: np.where(t["reader_a"] > 3, "BI-RADS 4a", "BI-RADS 3")),
     ["--reader", "reader_x"], ["reader_x", "BI-RADS 4a", "positive/negative"]),
    ("reader-fractional-levels", ("reader_x", lambda t: t["reader_a"] + 0.5),
     ["--reader", "reader_x"], ["reader_x", "whole-number", "1.5"]),
    ("reader-threshold-not-a-reader", None, ["--reader", "reader_a", "--reader-threshold", "reader_b=4"],
     ["reader_b", "not a --reader column"]),
    ("reader-threshold-outside-levels", None, ["--reader", "reader_a", "--reader-threshold", "7"],
     ["reader_a", "--reader-threshold 7", "1–5"]),
    ("reader-threshold-not-a-number", None, ["--reader", "reader_a", "--reader-threshold", "high"],
     ["--reader-threshold", "high", "COL=NUMBER"]),
    ("reader-threshold-without-reader", None, ["--reader-threshold", "4"], ["--reader-threshold", "--reader COL"]),
    ("reader-all-missing", ("reader_x", np.nan), ["--reader", "reader_x"], ["reader_x", "no readings"]),
]


@pytest.mark.parametrize("edit,extra,names", [r[1:] for r in READER_ROWS], ids=[r[0] for r in READER_ROWS])
def test_bad_reader_inputs_are_refused(signature, tmp_path, capsys, edit, extra, names):
    table = TABLE if edit is None else _edited(*edit, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(out)
    res = cli(["validate", "--signature", signature, "--features", table, "--label", "ALN_status",
               "--json", out / "res.json", "--plots", out / "plots", *extra], capsys)
    assert_refused(res, *names, before=before, folder=out)
