"""Every front door gives the features written before the restructuring, bit for bit.

``tests/fixtures/regression/*.csv`` were written at commit 4e08d14 by
``tools/make_regression_fixtures.py`` (breast1 with simulated T2/ADC through the cohort runner;
the first synthetic demo patient with the demo's settings). Here the same inputs go through
``extract --manifest``, ``extract --case-dir``, the demo's per-patient call and the Slicer Logic on
a real MRML scene — one pathway underneath — and every value must be identical (NaN = NaN).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from helpers import breast1_inputs

from alnpredictor.cli import main
from alnpredictor.settings import MRISettings

FIXTURES = Path(__file__).parent / "fixtures" / "regression"
pytestmark = pytest.mark.slow


def _expected(name: str) -> pd.Series:
    table = pd.read_csv(FIXTURES / name)
    assert len(table) == 1
    return table.iloc[0].drop("case_id").astype(float)


def _same(expected: pd.Series, got: dict | pd.Series, what: str) -> None:
    got = pd.Series(got, dtype=float)
    assert list(got.index) == list(expected.index), f"{what}: feature names or order changed"
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy(), err_msg=what)


@pytest.fixture(scope="module")
def breast1_case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("breast1")
    return breast1_inputs(folder), folder / "breast1"


def _read_row(path: Path) -> pd.Series:
    table = pd.read_csv(path)
    return table.iloc[0][[c for c in table.columns if c[:1] in "TL" and "_" in c]].astype(float)


def test_breast1_manifest_and_case_dir_equal_the_fixture(breast1_case, tmp_path):
    manifest, case_dir = breast1_case
    expected = _expected("breast1.csv")
    assert len(expected) == 6 * 851
    assert main(["extract", "--manifest", str(manifest), "--out", str(tmp_path / "run"), "--workers", "1",
                 "--on-roi-error", "nan", "--no-progress"]) == 0
    _same(expected, _read_row(tmp_path / "run" / "features.csv"), "extract --manifest")
    # the same folder as one case: propagation of the reference masks, N4 on request
    assert main(["extract", "--case-dir", str(case_dir), "--out", str(tmp_path / "case.csv"), "--n4",
                 "--n4-cache", str(tmp_path / "n4"), "--workers", "2"]) == 0
    _same(expected, _read_row(tmp_path / "case.csv"), "extract --case-dir")


def test_breast1_slicer_logic_equals_the_fixture(breast1_case, logic, tmp_path):
    _, case_dir = breast1_case
    expected = _expected("breast1.csv")
    nodes = {seq: logic.loadVolume(str(case_dir / f"{seq}.nrrd"), seq) for seq in ("T1C", "T2", "ADC")}
    seg = logic.loadLabelAsSegmentation(str(case_dir / "mask_tumor.nrrd"), nodes["T1C"], {1: "tumor"})
    shell = sitk.GetArrayFromImage(sitk.ReadImage(str(case_dir / "mask_nodes.nrrd")))
    logic.setSegmentFromArray(seg, "nodes", shell, nodes["T1C"])
    features, _, _ = logic.extractMRIFeatures(nodes["T1C"], nodes["T2"], nodes["ADC"], seg,
                                              cacheDir=str(tmp_path / "n4"))
    _same(expected, features, "Slicer Logic")


def test_demo_patient_equals_the_fixture(tmp_path, logic):
    from alnpredictor.cohort.manifest import load_manifest
    from alnpredictor.cohort.runner import run_cohort
    from alnpredictor.demo.run import DEMO_SETTINGS
    from alnpredictor.pathways import mri
    from alnpredictor.synthetic.mri_cohort import make_cohort, write_patients

    expected = _expected("demo_patient.csv")
    assert len(expected) == 6 * 851
    manifest = write_patients(make_cohort(7, {"A": 1}), tmp_path / "data")
    res = run_cohort(manifest, tmp_path / "run", mri.process_case, DEMO_SETTINGS, workers=1, progress=False)
    _same(expected, _read_row(res.features_csv), "cohort runner (demo settings)")
    # the demo's report step: the same patient in this process
    case = load_manifest(manifest).cases[0]
    settings = replace(DEMO_SETTINGS, cache_dir=str(tmp_path / "run" / "cache"))
    result = mri.run_case(settings=settings, **mri.read_case(case.to_dict(), settings))
    _same(expected, result.features, "pathway in-process (demo report)")
    assert isinstance(DEMO_SETTINGS, MRISettings)
    # the panel: volumes and seed point lists in a real scene, Segment, then Predict's extraction
    nodes = {seq: logic.loadVolume(path, seq) for seq, path in case.images.items()}
    seeds = {name: logic.newPointList(f"{name} seeds", pts) for name, pts in case.seeds.items()}
    seg, _ = logic.segmentFromSeeds(nodes["T1C"], seeds["tumor"], seeds["nodes"])
    panel, _ = logic.extractFeatures(nodes, seg, settings=settings)
    _same(expected, panel.features, "Slicer Logic (seeds → Segment → extract)")
