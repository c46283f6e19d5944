"""Prompts: what a segmenter is given (RAS mm), validated and normalised; no image needed."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import SimpleITK as sitk

from alnpredictor.errors import InputError
from alnpredictor.imaging.coords import VoxelGrid, ras_lps
from alnpredictor.imaging.prompts import (
    PROMPT_KINDS,
    Correction,
    Prompts,
    SeedOutsideImageError,
    UnsupportedPromptError,
    prompt_indices,
)


def test_points_are_normalised():
    p = Prompts({"tumor": np.array([[1, 2, 3]], np.float32), "nodes": [4, 5, 6], "empty": []})
    assert p.points == {"tumor": ((1.0, 2.0, 3.0),), "nodes": ((4.0, 5.0, 6.0),)}  # one point, empty dropped
    assert p.background == () and p.kinds() == {"points"} and p.structures() == ("tumor", "nodes")
    q = Prompts({"tumor": [[1, 2, 3]]}, background=None)
    assert q.background == () and q.kinds() == {"points"}
    r = Prompts({"tumor": [[1, 2, 3]]}, background=np.array([[0, 0, 0], [1, 1, 1]]))
    assert r.background == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)) and r.kinds() == {"points", "background"}
    # immutable, comparable, hashable, picklable (travels to worker processes)
    with pytest.raises(AttributeError):
        p.background = ((1.0, 1.0, 1.0),)
    assert p == Prompts({"tumor": [[1, 2, 3]], "nodes": [[4, 5, 6]]})
    assert hash(p) == hash(Prompts({"tumor": [[1, 2, 3]], "nodes": [[4, 5, 6]]}))
    assert pickle.loads(pickle.dumps(p)) == p
    # the caller's dict is copied, not kept
    seeds = {"tumor": [[1, 2, 3]]}
    s = Prompts(seeds)
    seeds["nodes"] = [[4, 5, 6]]
    assert list(s.points) == ["tumor"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"points": {}}, r"no seeds given: give at least one seed point \(R,A,S in mm\)"),
    ({}, "no seeds given"),
    ({"points": {"tumor": []}}, "every structure has an empty seed list"),
    ({"points": {"tumor": [[1.0, 2.0]]}}, r"seeds of 'tumor' must be points R,A,S"),
    ({"points": {"tumor": [[1.0, np.nan, 2.0]]}}, "3 finite numbers each"),
    ({"points": {"tumor": [[1, 2, 3], [4, 5]]}}, "seeds of 'tumor' must be points R,A,S"),
    ({"points": [[1, 2, 3]]}, "seed points must be given per structure"),
    ({"points": {"tumor": [[1, 2, 3]]}, "background": [[1, 2]]}, "background points must be points R,A,S"),
    ({"lines": {"tumor": [[[0, 0, 0]]]}}, "a caliper line of 'tumor' is two points R,A,S"),
    ({"boxes": {"tumor": [[0, 0, 0], [1, 1]]}}, "a box of 'tumor' is two points R,A,S"),
    ({"corrections": [([0, 0, 0], "tumor", "no")]}, "positive .True. or negative .False."),
    ({"corrections": ["tumor"]}, "a correction click is .point R,A,S, structure, positive."),
])
def test_bad_prompts_are_refused_clearly(kwargs, message):
    with pytest.raises(InputError, match=message):
        Prompts(**kwargs)


def test_reserved_prompt_kinds_are_accepted_and_named():
    line = [[0, 0, 0], [10, 0, 0]]
    p = Prompts(lines={"tumor": [line]}, boxes={"nodes": line}, corrections=[([1, 1, 1], "tumor", False)])
    assert p.points == {} and p.kinds() == {"lines", "boxes", "corrections"}
    assert p.lines == {"tumor": (((0.0, 0.0, 0.0), (10.0, 0.0, 0.0)),)}
    assert p.boxes == {"nodes": (((0.0, 0.0, 0.0), (10.0, 0.0, 0.0)),)}
    assert p.corrections == (Correction((1.0, 1.0, 1.0), "tumor", False),)
    assert p.structures() == ("tumor", "nodes")
    assert set(PROMPT_KINDS) == {"points", "background", "lines", "boxes", "corrections"}
    p.require({"points", "background", "lines", "boxes", "corrections"}, "any")
    with pytest.raises(UnsupportedPromptError, match=r"the demo segmenter does not handle caliper lines \('lines'\), "
                                                     r"boxes \('boxes'\), correction clicks \('corrections'\)"):
        p.require({"points"}, "demo")


def test_prompt_indices_and_outside_points():
    image = sitk.Image([10, 20, 5], sitk.sitkFloat32)
    image.SetSpacing((0.5, 1.0, 2.0))
    image.SetOrigin((3.0, -4.0, 1.0))
    grid = VoxelGrid(image)
    inside = np.array([[2.0, 3.0, 4.0], [9.4, 19.4, 4.4]])
    ras = ras_lps(np.array([image.TransformContinuousIndexToPhysicalPoint(i.tolist()) for i in inside]))
    assert np.allclose(prompt_indices(grid, ras, "tumor"), inside)
    far = ras + np.array([0.0, 0.0, 50.0])
    with pytest.raises(SeedOutsideImageError, match=r"nodes seed at RAS .* is outside the image, which spans R "):
        prompt_indices(grid, far, "nodes")
