"""Issue 14, items 7–9 and the model commands' rows of the traceback list: ``train``, ``validate`` and
``predict`` as a user types them. Each catalogue row gives exit 2 with one ``error:`` line naming
the input, no traceback and no output written; the rest check what used to be silently wrong
(which columns become features, what is listed as not used, a nomogram over a CLI-trained
signature predicting)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bad_inputs import assert_refused, run_cli, snapshot

from alnpredictor.cli import main

cli = run_cli  # argparse refusals included


def cohort(n: int, seed: int) -> pd.DataFrame:
    """Ultrasound-style table: DL_* features (three carry signal), the study's clinical columns, an id."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    df = pd.DataFrame({"id": [f"case{i:03d}" for i in range(n)]})
    for j in range(6):
        df[f"DL_{j}"] = rng.normal(size=n) + (0.9, -0.7, 0.5, 0, 0, 0)[j] * y
    df["age"] = rng.integers(30, 80, n) - 5 * y
    df["ki67"] = rng.integers(5, 60, n) + 10 * y
    df["us_aln"] = (rng.random(n) < 0.2 + 0.4 * y).astype(int)
    df["ALN"] = np.where(y == 1, "R", "N")
    return df


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Tables and one nomogram bundle (a fixed signature over DL_0–DL_2 + age, ki67), saved once."""
    from alnpredictor.models import save_bundle, train_model

    d = tmp_path_factory.mktemp("models")
    out = {"train": d / "train.csv", "val": d / "val.csv", "sig": d / "signature.csv"}
    cohort(120, 1).to_csv(out["train"], index=False)
    cohort(60, 2).to_csv(out["val"], index=False)
    pd.DataFrame({"feature": ["(intercept)", "DL_0", "DL_1", "DL_2"],
                  "coefficient": [-0.4, 0.9, -0.7, 0.5]}).to_csv(out["sig"], index=False)
    model = train_model(cohort(120, 1), "ALN", "nomogram", clinical=["age", "ki67"], positive="R",
                        signature=str(out["sig"]), name="DLRN")
    out["model"] = save_bundle(model, d / "dlrn.alnmodel")
    return out


def _edited(src: Path, dest: Path, row: int, column: str, value) -> Path:
    table = pd.read_csv(src)
    if isinstance(value, str):
        table[column] = table[column].astype(object)
    table.loc[row, column] = value
    table.to_csv(dest, index=False)
    return dest


# --- item 7: the clinical and feature checks at every front door ----------------------------------

PREDICT_ROWS = [  # (column, value, names in the error)
    ("age", -5, ("age", "plausible")),
    ("age", 500, ("age", "plausible")),
    ("ki67", 1e6, ("ki67", "plausible")),
    ("DL_0", np.inf, ("DL_0", "finite")),
]


@pytest.mark.parametrize("column,value,names", PREDICT_ROWS, ids=[f"predict-{c}={v}" for c, v, _ in PREDICT_ROWS])
def test_predict_refuses_impossible_values(files, tmp_path, capsys, column, value, names):
    row = _edited(files["val"], tmp_path / "row.csv", 0, column, value)
    pd.read_csv(row).iloc[[0]].to_csv(row, index=False)
    before = snapshot(tmp_path)
    res = cli(["predict", "--model", files["model"], "--features", row, "--nomogram", tmp_path / "case"], capsys)
    assert_refused(res, *names, "row 1", before=before, folder=tmp_path)
    assert res.out == ""  # no probability printed for a refused case


VALIDATE_ROWS = [
    ("age", -5, ("age", "row 4")),
    ("ki67", 1e6, ("ki67", "row 4")),
    ("DL_1", np.inf, ("DL_1", "row 4")),
    ("DL_1", -np.inf, ("DL_1", "infinite")),
]


@pytest.mark.parametrize("column,value,names", VALIDATE_ROWS, ids=[f"validate-{c}={v}" for c, v, _ in VALIDATE_ROWS])
def test_validate_refuses_impossible_values(files, tmp_path, capsys, column, value, names):
    table = _edited(files["val"], tmp_path / "val.csv", 3, column, value)
    out = tmp_path / "out"
    res = cli(["validate", "--model", files["model"], "--features", table, "--label", "ALN",
               "--json", out / "r.json"], capsys)
    assert_refused(res, *names, before={}, folder=out)


MANIFEST_ROWS = [("age", "-5"), ("ki67", "1000000"), ("clin_bmi", "inf")]


@pytest.mark.parametrize("column,value", MANIFEST_ROWS, ids=[f"manifest-{c}={v}" for c, v in MANIFEST_ROWS])
def test_manifest_clinical_columns_get_the_same_checks(tmp_path, capsys, column, value):
    """A cohort manifest's clinical columns: the shared check refuses the row before any work."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for cid in ("P1", "P2"):
        (frames / f"{cid}.png").write_bytes(b"not read: the manifest is refused first")
    clinical = {"age": "61", "ki67": "20", "clin_bmi": "24"}
    rows = ["case_id,pathway,image_US,seeds_tumor,age,ki67,clin_bmi"]
    for cid in ("P1", "P2"):
        values = {**clinical, **({column: value} if cid == "P2" else {})}
        rows.append(f'{cid},us,frames/{cid}.png,"10,12,0",{values["age"]},{values["ki67"]},{values["clin_bmi"]}')
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    res = cli(["extract", "--manifest", manifest, "--pathway", "us", "--out", out], capsys)
    assert_refused(res, column, "line 3", before={}, folder=out)


def test_training_range_is_a_warning_not_an_error(files, tmp_path, capsys):
    """Inside the plausible range but outside the training range: predicted, with the warning."""
    row = _edited(files["val"], tmp_path / "row.csv", 0, "age", 105)
    pd.read_csv(row).iloc[[0]].to_csv(row, index=False)
    res = cli(["predict", "--model", files["model"], "--features", row], capsys)
    assert res.rc == 0, res.err
    assert "outside the training range" in " ".join(json.loads(res.out)["clinical_warnings"])


def test_one_check_function_for_every_front_door(files):
    """The Logic and the pathways call predict_checked / check_clinical_values: the same refusals."""
    from alnpredictor.errors import ClinicalDataError, InputError
    from alnpredictor.models import load_bundle
    from alnpredictor.models.clinical import check_clinical_record, check_clinical_values, predict_checked

    model = load_bundle(files["model"])
    feats = {"DL_0": 0.1, "DL_1": 0.2, "DL_2": 0.3}
    with pytest.raises(ClinicalDataError, match="age: inf is not a finite number"):
        check_clinical_values(model.clinical_fields, {"age": "inf", "ki67": 20})
    with pytest.raises(InputError, match="DL_1: inf"):
        predict_checked(model, {**feats, "DL_1": float("inf")}, {"age": 60, "ki67": 20}, produced_by="this study")
    with pytest.raises(ClinicalDataError, match="ki67: 1e\\+06 is outside"):
        check_clinical_record({"ki67": 1e6, "subtype": "LumA", "clin_smoker": 1})
    assert predict_checked(model, feats, {"age": 60, "ki67": 20}, produced_by="x").probability > 0


# --- items 8 and the argument rows: cut-off, bootstrap ------------------------------------------------

ARG_ROWS = [
    (["train", "--cutoff", "2"], "--cutoff"),
    (["train", "--cutoff", "nan"], "--cutoff"),
    (["train", "--cutoff", "0"], "--cutoff"),
    (["validate", "--cutoff", "2"], "--cutoff"),
    (["validate", "--cutoff", "nan"], "--cutoff"),
    (["validate", "--bootstrap", "-5"], "--bootstrap"),
    (["validate", "--bootstrap", "0"], "--bootstrap"),
]


@pytest.mark.parametrize("extra,flag", ARG_ROWS, ids=[" ".join(a) for a, _ in ARG_ROWS])
def test_arguments_out_of_range_are_refused(files, tmp_path, capsys, extra, flag):
    command, rest = extra[0], extra[1:]
    if command == "train":
        argv = ["train", "--features", files["train"], "--label", "ALN", "--positive", "R", "--recipe", "svm-rbf",
                "--out", tmp_path / "m.alnmodel", *rest]
    else:
        argv = ["validate", "--model", files["model"], "--features", files["val"], "--label", "ALN",
                "--json", tmp_path / "r.json", *rest]
    assert_refused(cli(argv, capsys), flag, before={}, folder=tmp_path)


def test_api_refuses_the_same_cutoff_and_bootstrap(files):
    from alnpredictor.errors import InputError
    from alnpredictor.models import train_model, validate

    val = pd.read_csv(files["val"])
    with pytest.raises(InputError, match="cut-off"):
        validate(files["model"], val, "ALN", cutoff=float("nan"))
    with pytest.raises(InputError, match="bootstrap"):
        validate(files["model"], val, "ALN", auc_method="bootstrap", n_boot=0)
    with pytest.raises(InputError, match="cut-off"):
        train_model(val, "ALN", "svm-rbf", positive="R", cutoff=1.0)


# --- training tables: degenerate fits, bad cells, impossible values ------------------------------

def _noise(n: int, p: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"DL_{j}" for j in range(p)])
    df["ALN"] = rng.integers(0, 2, n)
    return df


def _train_table(kind: str, folder: Path) -> tuple[Path, list[str], tuple[str, ...]]:
    """A training table with one problem; the train arguments; what the error must name."""
    path = folder / f"{kind}.csv"
    svm = ["--recipe", "svm-rbf", "--positive", "R"]
    if kind == "degenerate-noise":  # p >> n noise: apparent AUC 0.000 (0.000-0.000) was saved
        _noise(30, 500).to_csv(path, index=False)
        return path, ["--recipe", "svm-rbf"], ("svm-rbf", "AUC")
    if kind == "svm-n3":
        _noise(3, 4).assign(ALN=[0, 1, 0]).to_csv(path, index=False)
        return path, ["--recipe", "svm-rbf"], ("svm-rbf", "5 cases")
    table = cohort(80, 3)
    if kind == "inf-feature":
        table.loc[6, "DL_1"] = np.inf
        names: tuple[str, ...] = ("DL_1", "infinite", "row 7")
    elif kind == "string-cell":  # the whole column used to vanish silently
        table["DL_2"] = table["DL_2"].astype(object)
        table.loc[9, "DL_2"] = "n/a?"
        names = ("DL_2", "n/a?", "row 10")
    elif kind == "age-negative":
        table.loc[2, "age"] = -5
        svm += ["--clinical", "age"]
        names = ("age", "row 3")
    elif kind == "ki67-huge":
        table.loc[2, "ki67"] = 1e6
        svm += ["--feature-list", "DL_0,DL_1,DL_2,ki67"]  # a clinical variable as a feature: same checks
        names = ("ki67", "row 3")
    elif kind == "no-feature-columns":
        table = table[["id", "age", "ki67", "ALN"]]
        names = ("no feature columns", "age")
    else:  # pragma: no cover
        raise ValueError(kind)
    table.to_csv(path, index=False)
    return path, svm, names


TRAIN_ROWS = ["degenerate-noise", "svm-n3", "inf-feature", "string-cell", "age-negative", "ki67-huge",
              "no-feature-columns"]


@pytest.mark.parametrize("kind", TRAIN_ROWS)
def test_train_refuses(tmp_path, capsys, kind):
    table, args, names = _train_table(kind, tmp_path)
    out = tmp_path / "out"
    res = cli(["train", "--features", table, "--label", "ALN", *args, "--out", out / "m.alnmodel"], capsys)
    assert_refused(res, *names, before={}, folder=out)


def test_train_out_that_is_a_link_to_a_bundle_is_refused(files, tmp_path, capsys):
    import shutil

    bundle = tmp_path / "real.alnmodel"
    shutil.copytree(files["model"], bundle)
    link = tmp_path / "link.alnmodel"
    link.symlink_to(bundle, target_is_directory=True)
    before = snapshot(tmp_path)
    res = cli(["train", "--features", files["train"], "--label", "ALN", "--positive", "R", "--recipe", "svm-rbf",
               "--out", link], capsys)
    assert_refused(res, "link.alnmodel", "symbolic link", before=before, folder=tmp_path)
    assert link.is_symlink()


# --- item 9: which columns are features, and every other column listed ------------------------------

def test_clinical_and_unnamed_columns_are_not_features_and_are_listed(tmp_path, capsys):
    table = cohort(100, 4)
    table["site"] = "A"
    table["score_old"] = np.arange(100.0)
    table.loc[5, "DL_5"] = np.nan
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    res = cli(["train", "--features", path, "--label", "ALN", "--positive", "R", "--recipe", "svm-rbf",
               "--out", tmp_path / "m"], capsys)
    assert res.rc == 0, res.err
    spec = json.loads((tmp_path / "m.alnmodel" / "model.json").read_text())
    assert spec["inputs"]["features"] == ["DL_0", "DL_1", "DL_2", "DL_3", "DL_4"]
    dropped = spec["details"]["dropped_columns"]
    assert set(dropped) == {"id", "age", "ki67", "us_aln", "site", "score_old", "DL_5"}
    assert "clinical variable" in dropped["age"] and "missing values" in dropped["DL_5"]
    assert "not an imaging feature name" in dropped["score_old"] and dropped["id"] == "identifier column"
    summary = res.out[res.out.index("columns not used"):]
    for col in dropped:
        assert col in summary, col  # every dropped column in the CLI summary, with its reason
    assert "missing values" in summary and "clinical variable" in summary


def test_feature_list_file_or_names_and_clinical_only_when_asked(tmp_path, capsys):
    table = cohort(100, 5)
    path, listing = tmp_path / "t.csv", tmp_path / "features.txt"
    table.to_csv(path, index=False)
    listing.write_text("# imaging\nDL_0\nDL_1\nage\n")
    for i, arg in enumerate((listing, "DL_0,DL_1,age")):
        res = cli(["train", "--features", path, "--label", "ALN", "--positive", "R", "--recipe", "svm-rbf",
                   "--feature-list", arg, "--out", tmp_path / f"m{i}"], capsys)
        assert res.rc == 0, res.err
        spec = json.loads((tmp_path / f"m{i}.alnmodel" / "model.json").read_text())
        assert spec["inputs"]["features"] == ["DL_0", "DL_1", "age"]
        assert spec["details"]["dropped_columns"]["ki67"] == "not in the feature list"
    res = cli(["train", "--features", path, "--label", "ALN", "--positive", "R", "--recipe", "svm-rbf",
               "--feature-list", "DL_0,age", "--clinical", "age", "--out", tmp_path / "both"], capsys)
    assert_refused(res, "age", "both features and clinical")


def test_nomogram_over_a_cli_trained_signature_predicts(tmp_path, capsys):
    """The old chain: a LASSO signature trained on every numeric column took in age and ki67; the
    nomogram over it with --clinical age ki67 then crashed predict ("truth value of a Series")."""
    path, row = tmp_path / "t.csv", tmp_path / "row.csv"
    table = cohort(150, 6)
    table.to_csv(path, index=False)
    table.iloc[[0]].to_csv(row, index=False)
    sig, nomo = tmp_path / "sig.alnmodel", tmp_path / "nomo.alnmodel"
    res = cli(["train", "--features", path, "--label", "ALN", "--positive", "R", "--recipe", "lasso-logistic",
               "--folds", "5", "--out", sig], capsys)
    assert res.rc == 0, res.err
    assert not {"age", "ki67"} & set(json.loads((sig / "model.json").read_text())["inputs"]["features"])
    res = cli(["train", "--features", path, "--label", "ALN", "--positive", "R", "--recipe", "nomogram",
               "--signature", sig, "--clinical", "age", "ki67", "--out", nomo], capsys)
    assert res.rc == 0, res.err
    res = cli(["predict", "--model", nomo, "--features", row], capsys)
    assert res.rc == 0, res.err
    assert set(json.loads(res.out)["points"]) == {"signature", "age", "ki67"}


@pytest.mark.slow
def test_user_text_in_plots_is_drawn_as_typed(files, tmp_path, capsys):
    """``$\\x$`` in a model name (and so in every figure title) was parsed as mathtext and crashed."""
    from alnpredictor.models import save_bundle, train_model

    model = train_model(cohort(120, 1), "ALN", "nomogram", clinical=["age"], positive="R",
                        signature=str(files["sig"]), name="$\\x$ model", signature_name="$\\x$")
    bundle = save_bundle(model, tmp_path / "math.alnmodel")
    res = cli(["validate", "--model", bundle, "--features", files["val"], "--label", "ALN",
               "--plots", tmp_path / "plots"], capsys)
    assert res.rc == 0, res.err
    assert len([p for p in (tmp_path / "plots").iterdir() if not p.name.startswith(".")]) == 8
    assert not [p for p in (tmp_path / "plots").iterdir() if p.name.startswith(".")]  # no scratch left


# --- writes: a full disk leaves nothing partial ------------------------------------------------------

@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs, filled to the last byte (root mounts it; skipped with the reason otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        (mount / "existing.alnmodel").mkdir()
        (mount / "existing.alnmodel" / "model.json").write_text("{}\n")
        with open(mount / "filler", "wb", buffering=0) as fh:  # unbuffered: ENOSPC here, not at close
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * 1024)
        with pytest.raises(OSError) as info:
            (mount / "probe").write_bytes(b"\0" * 4096)
        assert info.value.errno == errno.ENOSPC
        with contextlib.suppress(FileNotFoundError):
            os.unlink(mount / "probe")
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_train_on_a_full_disk_writes_nothing_and_keeps_the_old_bundle(files, full_disk, capsys):
    before = snapshot(full_disk)
    for out in (full_disk / "new.alnmodel", full_disk / "existing.alnmodel"):
        res = cli(["train", "--features", files["train"], "--label", "ALN", "--positive", "R", "--recipe",
                   "svm-rbf", "--out", out], capsys)
        assert_refused(res, out.name, "disk is full", before=before, folder=full_disk)
        assert "saved" not in res.out


@pytest.mark.parametrize("plots", [False, True], ids=["json", "json+plots"])
def test_validate_json_on_a_full_disk_writes_nothing(files, full_disk, capsys, plots):
    before = snapshot(full_disk)
    extra = ["--plots", full_disk / "plots"] if plots else []
    res = cli(["validate", "--model", files["model"], "--features", files["val"], "--label", "ALN",
               "--json", full_disk / "results.json", *extra], capsys)
    assert_refused(res, "disk is full", before=before, folder=full_disk)
    assert "results written" not in res.out and sorted(p.name for p in full_disk.iterdir()) == [
        "existing.alnmodel", "filler"]


def test_main_returns_2_not_a_traceback_for_a_bundle_path_that_is_a_file(files, tmp_path, capsys):
    target = tmp_path / "m.alnmodel"
    target.write_text("not a bundle")
    rc = main(["train", "--features", str(files["train"]), "--label", "ALN", "--positive", "R", "--recipe",
               "svm-rbf", "--out", str(target)])
    assert rc == 2 and "is not a model bundle" in capsys.readouterr().err
    assert target.read_text() == "not a bundle"
