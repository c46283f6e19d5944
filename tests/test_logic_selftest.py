"""The in-app self-test's scenarios (``ALNPredictorTest`` calls ``ALNPredictorLib.selftest``), run
headless on the slicer-core scene: they need no shared data (issue 12, defect 14) — everything comes
from ``alnpredictor.synthetic`` — and they pass."""

from __future__ import annotations

import json
import os

import pytest

from ALNPredictorLib import selftest

pytestmark = pytest.mark.slow


def test_selftest_uses_no_shared_data():
    source = open(selftest.__file__, encoding="utf-8").read()
    assert "shared_data" not in source and "ALNPREDICTOR_SHARED" not in source and "config" not in source


def test_mri_scenario(logic, tmp_path, monkeypatch):
    monkeypatch.setenv("ALNPREDICTOR_SHARED", str(tmp_path / "no-shared-data-here"))
    out = selftest.mri_scenario(logic, tmp_path)
    assert 0.0 < out["probability"] < 1.0
    assert out["dice"] > 0.8
    assert os.path.getsize(out["pdf"]) > 10000
    report = json.loads(open(out["json"], encoding="utf-8").read())
    assert report["prediction"]["probability"] == out["probability"]
    assert logic.resultsFromTable(out["table"])["probability"] == out["probability"]


def test_ultrasound_scenario_on_a_colour_frame(logic, tmp_path, monkeypatch):
    monkeypatch.setenv("ALNPREDICTOR_SHARED", str(tmp_path / "no-shared-data-here"))
    out = selftest.ultrasound_scenario(logic, tmp_path)
    assert out["frame"].IsA("vtkMRMLVectorVolumeNode")
    assert 0.0 <= out["probability"] <= 1.0
    assert out["prediction"]["mask_source"] == "given"  # the segment from the Segment button
    assert logic.arrayFromSegment(out["segmentation"], "tumor", out["frame"]).sum() > 50
