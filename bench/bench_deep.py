"""ResNet50 deep-feature throughput (images per second), CPU and, when present, GPU.

Reference in the same run: batch size 1 on CPU (one forward pass per lesion, what an interactive
single-case prediction does). Figures: CPU batch 8 vs that reference, GPU batch 32 vs the CPU
batch 8 figure, the handcrafted ultrasound features per image for scale, and one frame through the
whole pathway (``pathways.us.run_case``: handcrafted + PyRadiomics texture + ResNet50, what the
panel's Predict and each cohort case do).
"""

from __future__ import annotations

import time

N_IMAGES = 16


def _images_per_second(extractor, crops, repeats: int = 1) -> float:
    extractor.extract_crops(crops[: extractor.batch_size])  # warm-up (allocations, cuDNN choice)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        extractor.extract_crops(crops)
        if extractor.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return len(crops) / best


def run(results: dict) -> None:
    import logging

    import torch

    from alnpredictor.features import deep
    from alnpredictor.features.ultrasound import intensity_features, lbp_features, morphology_features
    from alnpredictor.synthetic.us_cohort import generate_cohort

    logging.getLogger("alnpredictor.features.deep").setLevel(logging.ERROR)  # untrained-backbone notice
    cases = generate_cohort(N_IMAGES, seed=1)
    crops = [deep.crop_to_roi(c.image, c.mask) for c in cases]
    out: dict = {"images": N_IMAGES, "input_size": deep.INPUT_SIZE, "cpu_threads": deep.default_num_threads()}

    ref = _images_per_second(deep.DeepFeatureExtractor(device="cpu", batch_size=1), crops)
    b8 = _images_per_second(deep.DeepFeatureExtractor(device="cpu", batch_size=8), crops)
    out.update(cpu_batch1_img_s=ref, cpu_batch8_img_s=b8, cpu_batch8_vs_batch1=b8 / ref)
    print(f"ResNet50 features, CPU ({out['cpu_threads']} threads): batch 1 {ref:.1f} img/s (reference), "
          f"batch 8 {b8:.1f} img/s  -> {b8 / ref:.2f}x")

    if torch.cuda.is_available():
        gpu = deep.DeepFeatureExtractor(device="cuda", batch_size=32)
        g = _images_per_second(gpu, crops * 8, repeats=3)
        out.update(gpu_name=torch.cuda.get_device_name(0), gpu_batch32_img_s=g, gpu_vs_cpu_batch8=g / b8)
        print(f"ResNet50 features, GPU {out['gpu_name']}: batch 32 {g:.1f} img/s  -> {g / b8:.1f}x CPU batch 8")
    else:
        print("ResNet50 features, GPU: no CUDA device here (CPU figures only)")

    t0 = time.perf_counter()
    for c in cases:
        morphology_features(c.mask, c.spacing)
        intensity_features(c.image, c.mask)
        lbp_features(c.image, c.mask)
    hand = N_IMAGES / (time.perf_counter() - t0)
    out.update(handcrafted_img_s=hand, handcrafted_vs_deep_cpu_batch8=hand / b8)
    print(f"handcrafted US features (morphology, echo, LBP): {hand:.1f} img/s -> {hand / b8:.1f}x ResNet50 CPU batch 8")

    import SimpleITK as sitk

    from alnpredictor.pathways import us
    from alnpredictor.settings import USSettings
    from alnpredictor.synthetic.us_cohort import to_sitk

    settings = USSettings(device="cpu")
    frames = [(sitk.JoinSeries(to_sitk(c.image, c.spacing)), sitk.JoinSeries(to_sitk(c.mask.astype("uint8"), c.spacing)))
              for c in cases[:4]]
    us.run_case(frames[0][0], settings, mask=frames[0][1])  # warm-up (network built once per process)
    t0 = time.perf_counter()
    for image, mask in frames:
        us.run_case(image, settings, mask=mask)
    per_case = (time.perf_counter() - t0) / len(frames)
    out.update(pathway_run_case_s=per_case)
    print(f"one frame through pathways.us.run_case (handcrafted + texture + ResNet50, CPU): {per_case:.2f} s")
    results["deep"] = out
