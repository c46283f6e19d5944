"""A synthetic breast-ultrasound cohort whose lesion margin, texture and shadowing carry the label.

For tests, benchmarks and the demo: no real ultrasound images can ship with the project. Each case
is one B-mode frame (rows = depth) built as a clinician would recognise it:

* tissue layers — bright skin line, hypoechoic subcutaneous fat, brighter fibroglandular tissue,
  striated pectoralis at the bottom — as a smooth echogenicity map;
* a hypoechoic lesion inside the glandular layer whose outline is a star-convex radial function
  r(θ) = R·(1 + e·cos 2(θ − φ)) + lobulation harmonics + sharp spicules;
* fully developed speckle: a complex Gaussian field blurred by an anisotropic point-spread function
  (axial finer than lateral), its envelope (Rayleigh) multiplying the echogenicity, then 45 dB log
  compression to 8 bits;
* a posterior acoustic feature: a column band below the lesion darkened (shadowing) or brightened
  (enhancement).

Label model (documented latent variable). Each patient has a latent risk z ~ N(0, 1) and
ALN status y ~ Bernoulli(sigmoid(1.6·z + β)), β chosen for the requested prevalence (default 35 %,
as the study's training cohort). The image traits follow z with independent noise, so no single
trait decides the label:

==========================  ==================================================================
trait                       how it follows z (t = sigmoid(z + noise), noise ~ N(0, 0.8²))
==========================  ==================================================================
spicules                    count round(6·t) − 1 (none below 0), height 0.15–0.45 of R
lobulation                  harmonic 3–6 amplitudes up to 0.12·t
margin blur                 Gaussian σ = 0.6 + 3·t pixels (indistinct margin)
internal heterogeneity      multiplicative low-frequency texture of strength 0.1 + 0.6·t
orientation                 φ spread ±(10° + 70°·t) around the horizontal (not parallel)
elongation e                0.35·(1 − t) (oval, wider than tall when low risk)
posterior feature           +0.35 (enhancement) … −0.45 (shadowing) as t goes 0 → 1
==========================  ==================================================================

Clinical variables follow the label as in the study's Table 1/3 direction: younger age, higher
BI-RADS category (coded 1 = 4A, 2 = 4B, 3 = 4C, 4 = 5), higher nuclear grade (1–3) and a
suspicious axillary ultrasound (``us_aln`` 1) are more frequent with metastasis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

#: frame size (rows = depth, columns = lateral) and square pixel size
FRAME = (224, 288)
SPACING_MM = 0.12
#: slope of the latent risk in the label model
LABEL_SLOPE = 1.6
DYNAMIC_RANGE_DB = 45.0


@dataclass
class SyntheticUSCase:
    """One synthetic frame with its truth: lesion mask, a seed inside it (RAS mm) and clinical data."""

    case_id: str
    image: np.ndarray  # uint8 [row, col]
    mask: np.ndarray  # bool [row, col]
    spacing: tuple[float, float]  # (row_mm, column_mm)
    seed_ras: tuple[float, float, float]
    label: int
    risk: float
    clinical: dict = field(default_factory=dict)
    traits: dict = field(default_factory=dict)


def _smooth_noise(rng: np.random.Generator, shape, sigma) -> np.ndarray:
    """Zero-mean, unit-SD smooth random field."""
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return (f - f.mean()) / (f.std() + 1e-12)


def speckle(rng: np.random.Generator, shape, psf_sigma=(0.8, 1.8)) -> np.ndarray:
    """Fully developed speckle envelope (Rayleigh, mean 1) with an anisotropic PSF (axial, lateral px)."""
    re = ndimage.gaussian_filter(rng.standard_normal(shape), psf_sigma)
    im = ndimage.gaussian_filter(rng.standard_normal(shape), psf_sigma)
    env = np.hypot(re, im)
    return env / env.mean()


def tissue_map(rng: np.random.Generator, shape=FRAME) -> np.ndarray:
    """Echogenicity of normal breast tissue by depth: skin, fat, glandular tissue, pectoralis."""
    rows, cols = shape
    r = np.arange(rows)[:, None] * np.ones((1, cols))
    wobble = 6 * _smooth_noise(rng, (1, cols), (1, 25))
    fat_end = 0.22 * rows + wobble
    muscle_start = 0.82 * rows + wobble
    e = np.where(r < 5, 1.4, 0.35)
    gland = (r >= fat_end) & (r < muscle_start)
    e = np.where(gland, 0.85 + 0.12 * _smooth_noise(rng, shape, (6, 14)), e)
    striations = 0.15 * np.sin(2 * np.pi * r / 7.0 + 0.3 * _smooth_noise(rng, shape, (3, 20)))
    e = np.where(r >= muscle_start, 0.6 + striations, e)
    fat_lobules = 0.08 * _smooth_noise(rng, shape, (5, 9))
    e = np.where((r >= 5) & (r < fat_end), e + fat_lobules, e)
    return ndimage.gaussian_filter(np.clip(e, 0.05, None), 1.0)


def lesion_outline(theta: np.ndarray, traits: dict) -> np.ndarray:
    """Radius (pixels) of the lesion in direction θ (0 = lateral, image columns; θ grows downward)."""
    R, e, phi = traits["radius"], traits["elongation"], traits["orientation"]
    r = R * (1 + e * np.cos(2 * (theta - phi)))
    for k, (amp, ph) in traits["lobes"].items():
        r = r + R * amp * np.cos(k * theta + ph)
    for angle, height in traits["spicules"]:
        r = r + R * height * np.clip(np.cos(theta - angle), 0, None) ** 80
    return r


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def draw_traits(rng: np.random.Generator, z: float) -> dict:
    """Lesion traits from the latent risk ``z`` (see the module table)."""

    def t() -> float:
        return float(_sigmoid(z + rng.normal(0, 0.8)))

    n_spic = max(0, round(6 * t()) - 1)
    t_orient, t_lobe = t(), t()
    return {
        "radius": float(rng.uniform(16, 30)),
        "elongation": 0.35 * (1 - t()),
        "orientation": float(np.deg2rad(rng.uniform(-1, 1) * (10 + 70 * t_orient))),
        "lobes": {k: (float(rng.uniform(0, 0.12 * t_lobe)), float(rng.uniform(0, 2 * np.pi))) for k in (3, 4, 5, 6)},
        "spicules": [(float(a), float(rng.uniform(0.15, 0.45))) for a in rng.uniform(0, 2 * np.pi, n_spic)],
        "margin_sigma": 0.6 + 3.0 * t(),
        "heterogeneity": 0.1 + 0.6 * t(),
        "posterior": 0.35 - 0.8 * t(),
        "lesion_echo": float(rng.uniform(0.03, 0.07)),
    }


def render_case(rng: np.random.Generator, traits: dict, shape=FRAME) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The 8-bit frame, the lesion mask and the lesion centre (row, col) for given traits."""
    rows, cols = shape
    e = tissue_map(rng, shape)
    reach = traits["radius"] * (1.5 + traits["elongation"])
    cr = float(rng.uniform(0.38 * rows, 0.55 * rows))
    cc = float(rng.uniform(reach + 8, cols - reach - 8))
    rr, cc_grid = np.indices(shape, dtype=float)
    theta = np.arctan2(rr - cr, cc_grid - cc)
    rho = np.hypot(rr - cr, cc_grid - cc)
    mask = rho <= lesion_outline(theta, traits)
    soft = ndimage.gaussian_filter(mask.astype(float), traits["margin_sigma"])
    inside = traits["lesion_echo"] * np.clip(1 + traits["heterogeneity"] * _smooth_noise(rng, shape, 3.0), 0.2, None)
    e = e * (1 - soft) + inside * soft
    # Posterior acoustic feature: a column band below the lesion, fading with depth.
    cols_hit = ndimage.gaussian_filter1d(mask.any(axis=0).astype(float), 3.0)
    bottom = np.flatnonzero(mask.any(axis=1))[-1]
    depth = np.clip((rr - bottom) / 4.0, 0, 1) * np.exp(-np.clip(rr - bottom, 0, None) / (3.0 * traits["radius"]))
    e = e * (1 + traits["posterior"] * depth * cols_hit[None, :])
    intensity = e * speckle(rng, shape)
    db = 20 * np.log10(np.clip(intensity, 1e-6, None) / np.percentile(intensity, 99.5))
    image = np.clip(np.rint((db + DYNAMIC_RANGE_DB) / DYNAMIC_RANGE_DB * 255.0), 0, 255).astype(np.uint8)
    return image, mask, (cr, cc)


def _clinical(rng: np.random.Generator, y: int) -> dict:
    """Age, BI-RADS (1 = 4A … 4 = 5), nuclear grade (1–3) and axillary-US status by label."""
    birads_p = [0.30, 0.30, 0.25, 0.15] if y == 0 else [0.12, 0.23, 0.30, 0.35]
    grade_p = [0.30, 0.50, 0.20] if y == 0 else [0.15, 0.45, 0.40]
    return {
        "age": int(np.clip(round(rng.normal(54 if y == 0 else 49, 10)), 25, 85)),
        "birads": int(rng.choice([1, 2, 3, 4], p=birads_p)),
        "nuclear_grade": int(rng.choice([1, 2, 3], p=grade_p)),
        "us_aln": int(rng.random() < (0.50 if y == 1 else 0.15)),
    }


def _intercept_for(prevalence: float, slope: float = 1.6) -> float:
    """β with E[sigmoid(slope·z + β)] = prevalence for z ~ N(0, 1) (bisection, Gauss–Hermite)."""
    x, w = np.polynomial.hermite_e.hermegauss(40)
    w = w / w.sum()
    lo, hi = -10.0, 10.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float(np.dot(w, _sigmoid(slope * x + mid))) < prevalence:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def pixel_to_ras(row: float, col: float, spacing: tuple[float, float]) -> tuple[float, float, float]:
    """RAS mm of a pixel of a frame stored with origin 0 and identity (LPS) direction."""
    from alnpredictor.imaging.coords import ras_lps

    lps = np.array([col * spacing[1], row * spacing[0], 0.0])
    r, a, s = ras_lps(lps)
    return float(r), float(a), float(s)


def generate_cohort(
    n: int = 120,
    seed: int = 0,
    prevalence: float = 0.35,
    shape=FRAME,
    spacing_mm: float = SPACING_MM,
    label_slope: float = LABEL_SLOPE,
) -> list[SyntheticUSCase]:
    """``n`` synthetic cases from one seed (see the module docstring for the label model;
    ``label_slope`` is the 1.6 of y ~ Bernoulli(sigmoid(1.6·z + β)): larger, less label noise)."""
    rng = np.random.default_rng(seed)
    beta = _intercept_for(prevalence, label_slope)
    cases = []
    for i in range(n):
        z = float(rng.standard_normal())
        y = int(rng.random() < _sigmoid(label_slope * z + beta))
        traits = draw_traits(rng, z)
        image, mask, (cr, cc) = render_case(rng, traits, shape)
        spacing = (spacing_mm, spacing_mm)
        cases.append(
            SyntheticUSCase(
                case_id=f"US{i + 1:04d}",
                image=image,
                mask=mask,
                spacing=spacing,
                seed_ras=pixel_to_ras(cr, cc, spacing),
                label=y,
                risk=z,
                clinical=_clinical(rng, y),
                traits={k: v for k, v in traits.items() if k not in ("lobes", "spicules")}
                | {"n_spicules": len(traits["spicules"])},
            )
        )
    return cases


def to_sitk(array: np.ndarray, spacing: tuple[float, float]):
    """A 2-D SimpleITK image with (column, row) spacing, origin 0, identity direction."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(array)
    img.SetSpacing((float(spacing[1]), float(spacing[0])))
    return img


def write_cohort(cases: list[SyntheticUSCase], out_dir: str | Path, masks: bool = True, seeds: bool = True) -> Path:
    """Write frames (and masks) as 2-D NRRD plus a cohort manifest; returns the manifest path.

    Manifest columns follow :mod:`alnpredictor.cohort.manifest`: ``case_id``, ``pathway`` (us),
    ``image_US``, ``mask_tumor`` and/or ``seeds_tumor`` (``R,A,S``), ``age``, ``birads``,
    ``nuclear_grade``, ``us_aln``, ``label``. Paths are relative to the manifest's folder."""
    import pandas as pd
    import SimpleITK as sitk

    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for c in cases:
        row = {"case_id": c.case_id, "pathway": "us", "image_US": f"images/{c.case_id}.nrrd"}
        sitk.WriteImage(to_sitk(c.image, c.spacing), str(out / row["image_US"]), True)
        if masks:
            row["mask_tumor"] = f"images/{c.case_id}_mask.nrrd"
            sitk.WriteImage(to_sitk(c.mask.astype(np.uint8), c.spacing), str(out / row["mask_tumor"]), True)
        if seeds:
            row["seeds_tumor"] = ",".join(f"{v:.3f}" for v in c.seed_ras)
        row.update(c.clinical)
        row["label"] = c.label
        rows.append(row)
    manifest = out / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest

