"""The Slicer module's Logic for issue 3, headless on a real MRML scene (slicer-core).

Same breast1 scenario as the Python API and CLI tests: a markups point at the label's centroid,
grow-cut into a vtkMRMLSegmentationNode, then propagation to a T2-like volume node."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import dice

from alnpredictor.imaging.coords import ras_lps
from alnpredictor.imaging.io import ImageDimensionError
from alnpredictor.imaging.segment import SeedOutsideImageError
from alnpredictor.synthetic.motion import image_center, random_rigid_motion, simulate_sequence


@pytest.fixture()
def scene_case(logic, breast1_image, breast1_label):
    volume = logic.loadVolume(str(breast1_image), "breast1")
    label = sitk.ReadImage(str(breast1_label))
    truth = sitk.GetArrayFromImage(label) > 0
    centre = np.argwhere(truth)[:, ::-1].mean(axis=0)
    seed = ras_lps(np.array(label.TransformContinuousIndexToPhysicalPoint(centre.tolist())))
    return volume, truth, seed


def test_segment_from_markups_into_segmentation_node(logic, scene_case):
    volume, truth, seed = scene_case
    seeds = logic.newPointList("tumor seeds", [seed])
    seg, summary = logic.segmentFromSeeds(volume, seeds)
    assert seg.IsA("vtkMRMLSegmentationNode") and logic.scene.GetNodeByID(seg.GetID()) is seg
    tumor = logic.arrayFromSegment(seg, "tumor", volume)
    score = dice(tumor, truth)
    print(f"Logic breast1 Dice (1 seed): {score:.3f}")
    assert score >= 0.75
    assert summary["structures"]["tumor"]["voxels"] == int(tumor.sum())
    assert summary["auto_background"] is True
    # same result as the core function (Logic is only conversion)
    from alnpredictor.imaging.segment import segment

    core = sitk.GetArrayFromImage(segment(logic.imageFromVolumeNode(volume), [seed]))
    assert np.array_equal(tumor, core)


def test_nodes_segment_is_never_overwritten(logic, scene_case):
    volume, truth, seed = scene_case
    seg, _ = logic.segmentFromSeeds(volume, logic.newPointList("t", [seed]))
    # pretend part of the tumor was already drawn as 'nodes': a new tumor run must leave it alone
    nodes = np.zeros_like(truth, dtype=np.uint8)
    nodes[9, 66:70, 20:30] = 1
    logic.setSegmentFromArray(seg, "nodes", nodes, volume)
    seg, _ = logic.segmentFromSeeds(volume, logic.newPointList("t2", [seed]), segmentationNode=seg)
    tumor = logic.arrayFromSegment(seg, "tumor", volume)
    assert np.array_equal(logic.arrayFromSegment(seg, "nodes", volume), nodes)
    assert not np.any(tumor & nodes)


def test_background_markups_and_errors(logic, scene_case):
    volume, truth, seed = scene_case
    far = [seed[0] + 300.0, seed[1], seed[2]]
    with pytest.raises(SeedOutsideImageError):
        logic.segmentFromSeeds(volume, logic.newPointList("far", [far]))
    with pytest.raises(ValueError, match="no seeds"):
        logic.segmentFromSeeds(volume, logic.newPointList("empty", []))
    auto_seg, auto_summary = logic.segmentFromSeeds(volume, logic.newPointList("t", [seed]))
    from alnpredictor.imaging.segment import segment_structures

    bg = segment_structures(logic.imageFromVolumeNode(volume), {"tumor": [seed]}).background_ras
    seg, summary = logic.segmentFromSeeds(volume, logic.newPointList("t", [seed]),
                                          backgroundSeedsNode=logic.newPointList("bg", bg))
    assert summary["auto_background"] is False and summary["n_background_seeds"] == len(bg)
    assert dice(logic.arrayFromSegment(seg, "tumor", volume), truth) > 0.6


def test_propagate_segmentation_to_t2_node(logic, scene_case):
    volume, truth, seed = scene_case
    seg, _ = logic.segmentFromSeeds(volume, logic.newPointList("t", [seed]))
    reference = logic.imageFromVolumeNode(volume)
    tumor = sitk.GetImageFromArray(logic.arrayFromSegment(seg, "tumor", volume))
    tumor.CopyInformation(reference)
    rng = np.random.default_rng(7)
    motion = random_rigid_motion(rng, image_center(reference), 4.0, 3.0)
    t2, t2_truth = simulate_sequence(reference, motion, rng=rng, mask=tumor)
    t2_node = logic.volumeNodeFromImage(t2, "T2")
    (out, quality), = logic.propagateSegmentation(seg, volume, [t2_node])
    assert out.GetName() == "ALN segmentation → T2"
    assert quality["registered"] and quality["converged"] and quality["volume"] == "T2"
    assert 2.0 < quality["translation_mm"] < 8.0
    propagated = logic.arrayFromSegment(out, "tumor", t2_node)
    assert propagated.shape == sitk.GetArrayViewFromImage(t2).shape  # on the T2 grid
    assert dice(propagated, sitk.GetArrayFromImage(t2_truth)) >= 0.75
    # without registration, on a single node argument
    (plain, q2), = logic.propagateSegmentation(seg, volume, t2_node, register=False)
    assert q2["registered"] is False


def test_n4_and_load_volume_use_the_core(logic, scene_case, tmp_path):
    import slicer

    volume, _, _ = scene_case
    corrected = logic.n4Correct(volume, cacheDir=str(tmp_path))
    assert corrected.GetName() == "breast1 N4"
    assert slicer.util.arrayFromVolume(corrected).shape == slicer.util.arrayFromVolume(volume).shape
    assert len(list(tmp_path.glob("n4-*.nrrd"))) == 1
    four = tmp_path / "four.nrrd"
    img = logic.imageFromVolumeNode(volume)
    sitk.WriteImage(sitk.JoinSeries([sitk.Cast(img, sitk.sitkFloat32)] * 2), str(four))
    with pytest.raises(ImageDimensionError, match="4-D"):
        logic.loadVolume(str(four))
