"""Imaging: grow-cut, N4 and propagation times on full-size synthetic MRI volumes.

Every figure is measured in this process next to a reference:

* **grow-cut** (448×448×160, one click, automatic background) vs the bare Slicer
  ``vtkImageGrowCutSegment`` on the same seed labels and region — the overhead of placing the
  background automatically; Dice against the synthetic lesion.
* **N4** (448×448×160) with our settings (≈6 mm fitting grid) vs Slicer's N4ITK module defaults
  (shrink factor 4, 50/40/30 iterations, Otsu mask); both scored by the correlation of the
  recovered log field with the true one. A cache hit is timed as well.
* **propagation** of the lesion mask from the T1C volume to a T2-like 512×512×60 volume (4 mm /
  3° motion) with our ROI-restricted registration vs registering the whole image; both scored
  by the residual error at the lesion.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _dice(a, b) -> float:
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def _bench_growcut(image, lesion, centre_ras, out: dict) -> None:
    import SimpleITK as sitk

    import alnpredictor.imaging.segment as seg
    from alnpredictor.imaging.growcut import grow_cut

    captured = {}
    real = seg.grow_cut  # the filter call inside the grow-cut segmenter

    def spy(intensity, labels, *a, **k):
        captured.update(intensity=np.array(intensity), labels=labels.copy(), spacing=a[0] if a else None)
        return real(intensity, labels, *a, **k)

    segmenter = seg.get_segmenter("grow-cut")
    prompts = seg.Prompts({"tumor": [centre_ras]})
    segmenter.segment(image, prompts)  # warm-up (imports, first VTK call)
    seg.grow_cut = spy
    try:
        result, ours = _timed(segmenter.segment, image, prompts)
    finally:
        seg.grow_cut = real
    _, bare = _timed(grow_cut, captured["intensity"], captured["labels"], tuple(image.GetSpacing()))
    dice = _dice(sitk.GetArrayViewFromImage(result.masks["tumor"]), sitk.GetArrayViewFromImage(lesion))
    out.update(growcut_s=ours, growcut_bare_filter_s=bare, growcut_vs_bare=ours / bare, growcut_dice=dice,
               growcut_region_voxels=int(captured["labels"].size), growcut_engine=result.provenance.engine_version)
    print(f"grow-cut 448x448x160, 1 click: {ours:.2f} s (region {captured['labels'].shape[::-1]} voxels), "
          f"bare Slicer filter on that region {bare:.2f} s (reference) -> {ours / bare:.1f}x; Dice {dice:.3f} "
          f"[{result.provenance.engine_version}]")


def _bench_n4(image, field, body, out: dict) -> None:
    import SimpleITK as sitk

    from alnpredictor.imaging.preprocess import n4_correct

    def corr(estimated) -> float:
        est = sitk.GetArrayViewFromImage(estimated)
        return float(np.corrcoef(np.log(est[body]), np.log(field[body]))[0, 1])

    (_, f_ours), ours = _timed(n4_correct, image, return_field=True)

    def slicer_defaults():
        """Slicer's N4ITK module defaults: shrink 4, 50/40/30 iterations, Otsu mask, 4 control points."""
        img = sitk.Cast(image, sitk.sitkFloat32)
        mask = sitk.OtsuThreshold(img, 0, 1, 200)
        n4 = sitk.N4BiasFieldCorrectionImageFilter()
        n4.SetMaximumNumberOfIterations([50, 40, 30])
        n4.SetConvergenceThreshold(1e-4)
        n4.Execute(sitk.Shrink(img, [4, 4, 4]), sitk.Shrink(mask, [4, 4, 4]))
        log_field = n4.GetLogBiasFieldAsImage(img)
        return img / sitk.Exp(log_field), sitk.Exp(log_field)

    (_, f_ref), ref = _timed(slicer_defaults)
    with tempfile.TemporaryDirectory() as cache:
        _, cold = _timed(n4_correct, image, cache_dir=cache)
        _, warm = _timed(n4_correct, image, cache_dir=cache)
    out.update(n4_s=ours, n4_slicer_defaults_s=ref, n4_speedup_vs_slicer_defaults=ref / ours,
               n4_field_corr=corr(f_ours), n4_slicer_defaults_field_corr=corr(f_ref),
               n4_cache_cold_s=cold, n4_cache_hit_s=warm, n4_cache_speedup=cold / warm)
    print(f"N4 448x448x160: {ours:.1f} s (log-field r={out['n4_field_corr']:.4f}), Slicer N4ITK defaults {ref:.1f} s "
          f"(r={out['n4_slicer_defaults_field_corr']:.4f}, reference) -> {ref / ours:.1f}x faster; "
          f"cache hit {warm:.2f} s vs {cold:.1f} s cold -> {cold / warm:.0f}x")


def _bench_propagation(image, lesion, out: dict) -> None:
    import SimpleITK as sitk

    from alnpredictor.imaging.propagate import propagate_masks
    from alnpredictor.synthetic.motion import image_center, random_rigid_motion, simulate_sequence

    rng = np.random.default_rng(3)
    motion = random_rigid_motion(rng, image_center(image), 4.0, 3.0)
    extent = np.array(image.GetSize()) * np.array(image.GetSpacing()) - 10.0  # 5 mm inset each side
    spacing = extent / np.array([512.4, 512.4, 60.4])
    t2, truth = simulate_sequence(image, motion, spacing=tuple(spacing), rng=rng, mask=lesion)
    assert t2.GetSize() == (512, 512, 60), t2.GetSize()
    idx = np.argwhere(sitk.GetArrayViewFromImage(lesion) > 0)[:, ::-1][::50]
    points = np.array([lesion.TransformIndexToPhysicalPoint([int(v) for v in i]) for i in idx])
    inverse = motion.GetInverse()

    def residual(result) -> float:
        return float(max(np.linalg.norm(np.array(result.transform.TransformPoint(inverse.TransformPoint(p))) - p)
                         for p in points))

    ours, t_ours = _timed(propagate_masks, image, t2, {"tumor": lesion})
    whole, t_whole = _timed(propagate_masks, image, t2, {"tumor": lesion}, margin_mm=1e4)
    dice = _dice(sitk.GetArrayViewFromImage(ours.masks["tumor"]), sitk.GetArrayViewFromImage(truth))
    out.update(propagation_s=t_ours, propagation_whole_image_s=t_whole, propagation_speedup=t_whole / t_ours,
               propagation_residual_mm=residual(ours), propagation_whole_image_residual_mm=residual(whole),
               propagation_dice=dice, t2_size=list(t2.GetSize()), t2_spacing=[round(s, 3) for s in spacing])
    print(f"propagation T1C 448x448x160 -> T2 512x512x60: {t_ours:.1f} s (residual {out['propagation_residual_mm']:.2f}"
          f" mm, Dice {dice:.3f}), whole-image registration {t_whole:.1f} s (residual "
          f"{out['propagation_whole_image_residual_mm']:.2f} mm, reference) -> {t_whole / t_ours:.1f}x faster")


def run(results: dict) -> None:
    import logging

    import SimpleITK as sitk

    from alnpredictor.synthetic.motion import synthetic_volume

    logging.getLogger("alnpredictor").setLevel(logging.ERROR)
    out: dict = {"threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}
    image, lesion, centre = synthetic_volume((448, 448, 160), (0.8, 0.8, 1.0), rng=np.random.default_rng(0),
                                             bias_strength=0.0)
    _bench_growcut(image, lesion, centre, out)
    arr = sitk.GetArrayFromImage(image)
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in arr.shape], indexing="ij")
    field = np.exp(0.3 * x - 0.2 * y + 0.15 * z**2).astype(np.float32)
    biased = sitk.GetImageFromArray(arr * field)
    biased.CopyInformation(image)
    _bench_n4(biased, field, arr > 100, out)
    del arr, z, y, x, biased
    _bench_propagation(image, lesion, out)
    results["imaging"] = out
