"""The segmenter seam (issue "One application layer", item 7): registry, settings, provenance.

``get_segmenter("grow-cut", **options).segment(image, Prompts(...))`` gives exactly what the
earlier call shapes (``segment_structures``, ``segment``) give — they are wrappers over it —
records the engine and its build, and refuses bad settings and prompts grow-cut does not handle.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict, fields

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import dice

from alnpredictor.errors import InputError
from alnpredictor.imaging.coords import ras_lps
from alnpredictor.imaging.segment import (
    SEGMENTERS,
    GrowCutSegmenter,
    GrowCutSettings,
    Prompts,
    Provenance,
    Segmenter,
    UnsupportedPromptError,
    get_segmenter,
    segment,
    segment_structures,
)


@pytest.fixture(scope="module")
def centroid(breast1):
    """One seed at the label's centroid (RAS mm); the label is used only to place it and score."""
    _, label = breast1
    c = np.argwhere(sitk.GetArrayViewFromImage(label) > 0)[:, ::-1].mean(axis=0)
    return [float(v) for v in ras_lps(np.array(label.TransformContinuousIndexToPhysicalPoint(c.tolist())))]


def _same(a, b) -> bool:
    """Same masks (values and geometry), background points, seeds, details and summary."""
    if list(a.masks) != list(b.masks):
        return False
    for name in a.masks:
        ma, mb = a.masks[name], b.masks[name]
        if not np.array_equal(sitk.GetArrayViewFromImage(ma), sitk.GetArrayViewFromImage(mb)):
            return False
        if (ma.GetOrigin(), ma.GetSpacing(), ma.GetDirection()) != (mb.GetOrigin(), mb.GetSpacing(), mb.GetDirection()):
            return False
    sa, sb = a.summary(), b.summary()
    sa.pop("seconds"), sb.pop("seconds")
    return (np.array_equal(a.background_ras, b.background_ras) and sa == sb and a.details == b.details
            and all(np.array_equal(a.seeds_ras[k], b.seeds_ras[k]) for k in a.seeds_ras))


def test_seam_equals_the_earlier_functions_on_breast1(breast1, centroid):
    image, label = breast1
    result = get_segmenter().segment(image, Prompts({"tumor": [centroid]}))
    assert _same(result, segment_structures(image, {"tumor": [centroid]}))
    assert np.array_equal(sitk.GetArrayViewFromImage(result.masks["tumor"]),
                          sitk.GetArrayViewFromImage(segment(image, [centroid])))
    assert result.auto_background and len(result.background_ras) > 50
    assert dice(result.masks["tumor"], label) >= 0.79  # one seed at the centroid, nothing else
    # user background and options travel the same way
    background = result.background_ras
    manual = GrowCutSegmenter(GrowCutSettings(smoothing_mm=0.7, distance_penalty=2.0)).segment(
        image, Prompts({"tumor": [centroid]}, background=background))
    assert not manual.auto_background
    assert _same(manual, segment_structures(image, {"tumor": [centroid]}, background, smoothing_mm=0.7,
                                            distance_penalty=2.0))


def test_provenance_records_engine_and_version(breast1, centroid):
    import vtk

    image, _ = breast1
    segmenter = get_segmenter("grow-cut", smoothing_mm=1.0)
    result = segmenter.segment(image, Prompts({"tumor": [centroid]}))
    prov = result.provenance
    assert isinstance(prov, Provenance) and prov.engine == "grow-cut" == segmenter.name
    assert prov.engine_version == segmenter.version
    assert prov.engine_version.startswith("vtkImageGrowCutSegment (")
    assert f"VTK {vtk.vtkVersion.GetVTKVersion()}" in prov.engine_version
    assert prov.settings == asdict(GrowCutSettings(smoothing_mm=1.0))
    record = json.loads(json.dumps(prov.as_record()))
    assert record["engine"] == "grow-cut" and record["settings"]["smoothing_mm"] == 1.0
    # the record rebuilds the segmenter that made the result
    again = get_segmenter(record["engine"], **record["settings"]).segment(image, Prompts({"tumor": [centroid]}))
    assert _same(again, result)
    # the earlier call shape records it too
    assert segment_structures(image, {"tumor": [centroid]}).provenance.engine == "grow-cut"


def test_registry_and_protocol():
    assert SEGMENTERS == {"grow-cut": GrowCutSegmenter}
    segmenter = get_segmenter()
    assert isinstance(segmenter, GrowCutSegmenter) and isinstance(segmenter, Segmenter)
    assert segmenter.settings == GrowCutSettings()
    assert segmenter.prompt_kinds == {"points", "background", "lines", "boxes", "corrections"}
    base = GrowCutSettings(min_gap_mm=2.0)
    assert get_segmenter("grow-cut", settings=base).settings is base
    assert get_segmenter("grow-cut", settings=base, smoothing_mm=1.0).settings == GrowCutSettings(min_gap_mm=2.0,
                                                                                                    smoothing_mm=1.0)
    with pytest.raises(InputError, match="unknown segmenter 'random-walker': choose one of grow-cut"):
        get_segmenter("random-walker")


@pytest.mark.parametrize(("options", "message"), [
    ({"smoothing_mm": -1.0}, r"smoothing_mm must be a finite number ≥ 0 \(got -1.0\)"),
    ({"distance_penalty": float("nan")}, "distance_penalty must be a finite number"),
    ({"max_radius_mm": 0}, r"max_radius_mm must be a finite number > 0 \(got 0\)"),
    ({"max_elongation": 0.5}, "max_elongation must be a finite number ≥ 1"),
    ({"profile_sigma_mm": -2.0}, "profile_sigma_mm must be a finite number ≥ 0 or None"),
    ({"min_enclosed": 1.5}, "min_enclosed must be a finite number ≥ 0 and ≤ 1"),
    ({"max_fraction": 0.0}, "max_fraction must be a finite number > 0 and ≤ 1"),
    ({"min_cnr": "3"}, "min_cnr must be a finite number"),
    ({"fill_holes": "yes"}, r"fill_holes must be True or False \(got 'yes'\)"),
    ({"skip_bad_seeds": 1}, "skip_bad_seeds must be True or False"),
])
def test_bad_settings_are_refused_clearly(options, message):
    with pytest.raises(InputError, match=f"grow-cut setting {message}"):
        GrowCutSettings(**options)
    with pytest.raises(InputError, match=message):
        get_segmenter("grow-cut", **options)


def test_unknown_option_and_settings_shape():
    with pytest.raises(InputError, match="unknown grow-cut option smoothing: the options are smoothing_mm, "):
        get_segmenter("grow-cut", smoothing=1.0)
    with pytest.raises(InputError, match="unknown grow-cut option smoothing"):
        segment_structures(sitk.Image([5, 5, 5], sitk.sitkFloat32), {"tumor": [[0, 0, 0]]}, smoothing=1.0)
    with pytest.raises(InputError, match="must be GrowCutSettings"):
        GrowCutSegmenter({"smoothing_mm": 1.0})
    s = GrowCutSettings(smoothing_mm=1, max_radius_mm=30)
    assert isinstance(s.smoothing_mm, float) and isinstance(s.max_radius_mm, float)
    assert pickle.loads(pickle.dumps(s)) == s and hash(s) == hash(GrowCutSettings(smoothing_mm=1.0, max_radius_mm=30.0))
    with pytest.raises(AttributeError):
        s.smoothing_mm = 2.0  # frozen
    # every option of the earlier function is a setting, with the same default
    assert [f.name for f in fields(GrowCutSettings)] == [
        "smoothing_mm", "distance_penalty", "fill_holes", "max_radius_mm", "max_elongation", "min_gap_mm",
        "profile_sigma_mm", "min_cnr", "min_contrast", "min_enclosed", "max_fraction", "skip_bad_seeds",
        # prompted grow-cut (caliper lines, boxes, 2-D clicks): alnpredictor.imaging.prompted
        "prefilter", "range_fraction", "line_core", "line_background", "box_core", "working_pixels",
        "min_prompt_fraction", "click_mode", "click_refuse_ratio", "click_warn_ratio",
        "island_ratio"]


@pytest.mark.parametrize(("kind", "prompts", "min_dice"), [
    ("lines", lambda p: Prompts(lines={"tumor": [[[p[0] - 3.5, p[1], p[2]], [p[0] + 3.5, p[1], p[2]]]]}), 0.7),
    ("boxes", lambda p: Prompts(boxes={"tumor": [[[p[0] - 5, p[1] - 5, p[2] - 4], [p[0] + 5, p[1] + 5, p[2] + 4]]]}),
     0.7),
    ("corrections", lambda p: Prompts({"tumor": [p]}, corrections=[([p[0] + 12, p[1], p[2]], "tumor", False)]), 0.75),
])
def test_every_prompt_kind_goes_through_the_seam(breast1, centroid, kind, prompts, min_dice):
    """Caliper lines, boxes and correction clicks reach grow-cut through the one seam (3-D MRI)."""
    from helpers import dice

    image, label = breast1
    given = prompts(centroid)
    assert kind in given.kinds()
    result = get_segmenter().segment(image, given)
    assert dice(sitk.GetArrayViewFromImage(result.masks["tumor"]), sitk.GetArrayViewFromImage(label)) >= min_dice
    assert result.provenance.engine == "grow-cut"


def test_a_segmenter_refuses_kinds_it_does_not_handle(breast1, centroid):
    """The seam's rule for engines with fewer kinds: refused by name, never ignored."""
    given = Prompts(lines={"tumor": [[centroid, [centroid[0] + 9, centroid[1], centroid[2]]]]})
    with pytest.raises(UnsupportedPromptError, match=r"the one-click segmenter does not handle caliper lines "
                                                     r"\('lines'\): it takes seed points \('points'\)"):
        given.require({"points"}, "one-click")
    assert issubclass(UnsupportedPromptError, InputError)


def test_segment_takes_prompts_only(breast1, centroid):
    image, _ = breast1
    with pytest.raises(TypeError, match="prompts must be .*Prompts"):
        get_segmenter().segment(image, {"tumor": [centroid]})
