"""Handcrafted ultrasound features of a breast lesion: BI-RADS-style morphology, echo pattern,
posterior acoustic feature, LBP texture and PyRadiomics 2-D texture.

The US study (Liu et al. 2024) computed 544 handcrafted features with the MATLAB Breast Ultrasound
Analysis Toolbox (BUSAT); its LASSO kept four LBP histogram bins. This module is the Python
counterpart: every feature is defined below, named ``US_{name}``, and computed on one 2-D frame
with its lesion mask. Conventions:

* Arrays are indexed ``[row, column]``; rows run from the transducer (skin, top of the image) into
  depth, columns run laterally. "Below the lesion" means larger row indices.
* ``spacing`` is ``(row_mm, column_mm)``. Shape features are computed on a grid made isotropic
  first (nearest-neighbour resampling of the mask to the finer spacing), so angles and ratios are
  physical; lengths are reported in millimetres.
* The mask's largest 8-connected component, holes filled, is the lesion.

Morphology (BI-RADS shape, orientation and margin descriptors):

``area_mm2``, ``perimeter_mm``
    Lesion area (pixel count × pixel area) and boundary length (Crofton formula, 4 directions).
``major_axis_mm``, ``minor_axis_mm``
    Full axes of the moment-equivalent ellipse (same second moments as the mask: 4·√λ).
``orientation_deg``
    Angle between that ellipse's major axis and the skin line (image horizontal), 0–90°.
    BI-RADS "parallel" ≈ 0°, "not parallel" (taller than wide) → 90°.
``depth_width_ratio``
    Bounding-box depth (rows) ÷ width (columns) in mm; > 1 is "taller than wide".
``aspect_ratio``
    Major ÷ minor axis of the equivalent ellipse (1 for a circle).
``circularity``
    4π·area ÷ perimeter², capped at 1 (1 for a circle, smaller for elongated or irregular outlines).
``convexity``
    Convex-hull perimeter ÷ perimeter (1 for convex outlines, lower for indentations/spicules).
``solidity``
    Area ÷ convex-hull area (1 for convex outlines).
``ellipse_deviation``
    Area of the symmetric difference between the mask and its equivalent ellipse ÷ mask area
    (≈ 0 for an ellipse; BUSAT's normalised residual value).
``ellipse_overlap``
    Intersection ÷ union of mask and equivalent ellipse (≈ 1 for an ellipse; BUSAT's overlap ratio).
``elliptic_normalized_circumference``
    Perimeter ÷ perimeter of the equivalent ellipse (Ramanujan); ≈ 1 for an ellipse.
``margin_irregularity``
    Root-mean-square relative deviation of the boundary from the equivalent ellipse, measured along
    rays from the centroid: RMS_i of (d_i − e(θ_i)) / e(θ_i), with d_i the distance of boundary
    point i to the centroid and e(θ) the ellipse's radius in that direction. ≈ 0 for an ellipse.
``spicule_count``
    Number of concavities (convexity defects: the boundary between two consecutive convex-hull
    vertices) deeper than 10 % of the equivalent-circle radius √(area/π). A star with k spikes has
    k; convex outlines have 0.
``spiculation``
    Mean depth of those concavities ÷ equivalent-circle radius (0 without concavities).
``nrl_mean``, ``nrl_sd``, ``nrl_range``, ``nrl_entropy``, ``nrl_area_ratio``, ``nrl_zero_crossings``
    Normalised radial length (Kilday et al.): d_i ÷ max d over 512 boundary points equally spaced
    in arc length. Mean, standard deviation, range (max − min), Shannon entropy (bits) of its
    100-bin histogram on [0, 1], area ratio (1/(N·mean))·Σ_{d_i>mean}(d_i − mean), and the number
    of times it crosses its mean (with a ±0.02 hysteresis band so pixel noise does not count):
    0 for a circle, 4 for an ellipse, 2k for a k-pointed star.

Echo pattern and margin (intensities of the image as given):

``echo_contrast``
    (mean of a surrounding ring − mean of the lesion) ÷ (their sum): > 0 hypoechoic. The ring is
    the mask dilated by w = max(3, ¼ equivalent radius) pixels minus the mask.
``echo_heterogeneity``
    Coefficient of variation (SD ÷ mean) of the lesion's intensities.
``margin_sharpness``
    Contrast across the margin within 2 pixels on either side (outer band mean − inner band mean)
    ÷ contrast between the ring and the lesion core (mask eroded by w). ≈ 1 for a sharp
    (circumscribed) margin, → 0 for an indistinct one.
``posterior_contrast``
    BI-RADS posterior acoustic feature: (P − L) ÷ (P + L), with P the mean of the rectangle
    directly below the lesion (the lesion's columns, as deep as the lesion is tall) and L the mean
    of the rectangles of half the lesion width on either side at the same depth. > 0 enhancement,
    < 0 shadowing. NaN (with a warning) when the lesion reaches the bottom or the sides.

Texture:

``LBP_{k}``, k = 0…255
    Normalised histogram over the lesion of the basic 8-neighbour, radius-1 local binary pattern
    code (scikit-image ``method='default'``): BUSAT's 256 LBP bins, the family of the study's
    four kept handcrafted features.
``LBPu_R{r}_{k}``
    Rotation-invariant uniform LBP histograms (``method='uniform'``) at radius 1, 2, 3 with
    8, 16, 24 neighbours (P + 2 bins each).
PyRadiomics 2-D texture
    With ``force2D`` from ``Resources/us-liu2024.yaml`` via :func:`alnpredictor.features.radiomics.extract_roi`,
    named ``US_{pyradiomics feature name}``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from scipy import ndimage

from alnpredictor.errors import InputError, MaskError
from alnpredictor.imaging.io import check_geometry, check_voxels

log = logging.getLogger(__name__)

PREFIX = "US_"
#: the PyRadiomics parameter file of the ultrasound pathway (in Resources/)
RADIOMICS_PARAMS = "us-liu2024.yaml"
#: concavities deeper than this fraction of the equivalent radius count as spicules/lobulations
DEFECT_DEPTH = 0.10
#: hysteresis band of the NRL mean-crossing count (normalised radial length units)
NRL_BAND = 0.02
#: boundary samples (equal arc length) for the radial-length statistics
NRL_SAMPLES = 512
#: Gaussian σ (pixels) of the mask before the sub-pixel boundary is traced
CONTOUR_SIGMA = 1.0
#: LBP settings: (radius, neighbours) of the uniform histograms
LBP_UNIFORM = ((1, 8), (2, 16), (3, 24))


# --------------------------------------------------------------------------- geometry helpers
#: parts of a lesion mask smaller than this in all (pixels) are dropped without a warning
STRAY_PIXELS = 10


def lesion_mask(mask: np.ndarray, warn: bool = True) -> np.ndarray:
    """The lesion as used by every feature: largest 8-connected component, holes filled.

    When other parts are dropped and they hold more than :data:`STRAY_PIXELS` pixels in all, a
    warning says so (``warn``; :func:`handcrafted_features` gives it once per frame)."""
    m = np.asarray(mask) > 0
    if m.ndim != 2:
        raise MaskError(f"the lesion mask must be 2-D; got shape {m.shape}")
    labels, n = ndimage.label(m, structure=np.ones((3, 3)))
    if n == 0:
        raise MaskError("the lesion mask is empty: draw the lesion or give a seed point inside it")
    if n > 1:
        sizes = np.bincount(labels.ravel())[1:]
        dropped = int(sizes.sum() - sizes.max())
        if warn and dropped > STRAY_PIXELS:
            log.warning("lesion mask has %d separate parts; using the largest (%d pixels, %d dropped)", n,
                        sizes.max(), dropped)
        m = labels == (1 + int(np.argmax(sizes)))
    m = ndimage.binary_fill_holes(m)
    if m.sum() < 9:
        raise MaskError(f"the lesion mask has only {int(m.sum())} pixels; at least 9 are needed for shape features")
    return m


def _isotropic(mask: np.ndarray, spacing: tuple[float, float]) -> tuple[np.ndarray, float]:
    """Resample a mask to square pixels of the finer spacing (nearest neighbour) when needed."""
    sr, sc = (float(s) for s in spacing)
    if sr <= 0 or sc <= 0:
        raise InputError(f"pixel spacing must be positive; got {spacing}")
    if abs(sr - sc) <= 0.01 * min(sr, sc):
        return mask, sr
    p = min(sr, sc)
    from skimage.transform import resize

    shape = (max(1, round(mask.shape[0] * sr / p)), max(1, round(mask.shape[1] * sc / p)))
    return resize(mask.astype(float), shape, order=0, anti_aliasing=False) > 0.5, p


def boundary_contour(mask: np.ndarray, sigma: float = CONTOUR_SIGMA) -> np.ndarray:
    """Closed sub-pixel boundary (marching squares at 0.5) as (n, 2) [row, col], last point ≠ first.

    The mask is blurred with a Gaussian of ``sigma`` pixels first: on the raw 0/1 mask the contour
    follows the pixel staircase (45° facets) and overestimates a circle's perimeter by ~5 %; σ = 1
    removes that and only slightly rounds sharp tips. ``sigma=0`` traces the raw mask."""
    from skimage.measure import find_contours

    padded = np.pad(mask.astype(float), 4)
    if sigma > 0:
        padded = ndimage.gaussian_filter(padded, sigma=sigma)
    contours = find_contours(padded, 0.5)
    c = max(contours, key=len) - 4.0
    if np.allclose(c[0], c[-1]):
        c = c[:-1]
    return c


def resample_contour(c: np.ndarray, n: int = NRL_SAMPLES) -> np.ndarray:
    """n points equally spaced in arc length along a closed contour."""
    closed = np.vstack([c, c[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, s[-1], n, endpoint=False)
    return np.column_stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])])


def equivalent_ellipse(mask: np.ndarray) -> dict:
    """Moment-equivalent ellipse of a mask: centroid, semi-axes a ≥ b (pixels), unit axis vectors."""
    coords = np.argwhere(mask).astype(float)
    centroid = coords.mean(axis=0)
    cov = np.cov((coords - centroid).T, bias=True) + np.eye(2) / 12.0  # + pixel's own extent
    evals, evecs = np.linalg.eigh(cov)
    a, b = 2.0 * math.sqrt(max(evals[1], 0.0)), 2.0 * math.sqrt(max(evals[0], 0.0))
    return {"centroid": centroid, "a": a, "b": b, "major": evecs[:, 1], "minor": evecs[:, 0]}


def _ellipse_mask(shape: tuple[int, int], ell: dict) -> np.ndarray:
    rr, cc = np.indices(shape, dtype=float)
    dr, dc = rr - ell["centroid"][0], cc - ell["centroid"][1]
    p = dr * ell["major"][0] + dc * ell["major"][1]
    q = dr * ell["minor"][0] + dc * ell["minor"][1]
    return (p / ell["a"]) ** 2 + (q / max(ell["b"], 1e-9)) ** 2 <= 1.0


def convexity_defects(c: np.ndarray) -> np.ndarray:
    """Depth of each concavity of a closed contour: for every pair of consecutive convex-hull
    vertices, the largest distance of the boundary between them to the hull edge."""
    from scipy.spatial import ConvexHull

    hull = np.sort(ConvexHull(c[:, ::-1]).vertices)
    n = len(c)
    depths = []
    for k, i in enumerate(hull):
        j = hull[(k + 1) % len(hull)] + (n if k + 1 == len(hull) else 0)
        if j - i < 2:
            continue
        pts = c[np.arange(i + 1, j) % n]
        p0, p1 = c[i], c[j % n]
        edge = p1 - p0
        length = float(np.hypot(*edge))
        if length == 0:
            continue
        depths.append(float(np.max(np.abs(edge[0] * (pts[:, 1] - p0[1]) - edge[1] * (pts[:, 0] - p0[0]))) / length))
    return np.asarray(depths)


def _mean_crossings(x: np.ndarray, band: float) -> int:
    """Circular count of crossings of the mean, ignoring excursions inside ±band."""
    dev = x - x.mean()
    states = np.sign(dev[np.abs(dev) > band])
    if states.size == 0:
        return 0
    return int(np.count_nonzero(states != np.roll(states, 1)))


def ellipse_perimeter(a: float, b: float) -> float:
    """Perimeter of an ellipse with semi-axes ``a``, ``b`` (Ramanujan's second approximation)."""
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


# --------------------------------------------------------------------------- morphology
def morphology_features(mask: np.ndarray, spacing: tuple[float, float] = (1.0, 1.0)) -> dict[str, float]:
    """BI-RADS-style shape, orientation and margin features of a 2-D lesion mask (see module doc).

    ``spacing`` is (row_mm, column_mm). Keys are unprefixed (``orientation_deg`` …)."""
    m, px = _isotropic(lesion_mask(mask), spacing)
    m = lesion_mask(m)
    ell = equivalent_ellipse(m)
    contour = boundary_contour(m)
    area_px = float(m.sum())
    from scipy.spatial import ConvexHull
    from skimage.measure import perimeter_crofton

    # Perimeter by the Crofton formula (4 directions): within ~2 % of the true length for circles,
    # ellipses and sharp-tipped stars, where contour tracing either follows the pixel staircase
    # (+5 %) or, smoothed, cuts the tips (−4 %). The convex hull is taken of the raw sub-pixel
    # contour, which keeps spike tips (in 2-D, ConvexHull.area is the perimeter, .volume the area).
    perim = float(perimeter_crofton(m, 4))
    raw = boundary_contour(m, sigma=0)
    hull = ConvexHull(raw[:, ::-1])
    r_eq = math.sqrt(area_px / math.pi)
    major = ell["major"]
    orientation = math.degrees(math.atan2(abs(major[0]), abs(major[1])))
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    ell_mask = _ellipse_mask(m.shape, ell)
    inter, union = float((m & ell_mask).sum()), float((m | ell_mask).sum())

    # Radial profile on equal-arc-length boundary samples.
    samples = resample_contour(contour)
    vec = samples - ell["centroid"]
    d = np.hypot(vec[:, 0], vec[:, 1])
    u = vec / np.maximum(d, 1e-12)[:, None]
    p, q = u @ ell["major"], u @ ell["minor"]
    e = 1.0 / np.sqrt((p / ell["a"]) ** 2 + (q / max(ell["b"], 1e-9)) ** 2)
    nrl = d / d.max()
    hist = np.histogram(nrl, bins=100, range=(0.0, 1.0))[0] / len(nrl)
    hist = hist[hist > 0]
    depths = convexity_defects(raw)  # raw contour: spike tips (the hull vertices) kept sharp
    spikes = depths[depths > DEFECT_DEPTH * r_eq]
    return {
        "area_mm2": area_px * px * px,
        "perimeter_mm": perim * px,
        "major_axis_mm": 2 * ell["a"] * px,
        "minor_axis_mm": 2 * ell["b"] * px,
        "orientation_deg": orientation,
        "depth_width_ratio": float(rows[-1] - rows[0] + 1) / float(cols[-1] - cols[0] + 1),
        "aspect_ratio": ell["a"] / max(ell["b"], 1e-9),
        "circularity": min(1.0, 4 * math.pi * area_px / perim**2),
        "convexity": min(1.0, float(hull.area) / perim),
        "solidity": min(1.0, area_px / float(hull.volume)),
        "ellipse_deviation": float((m ^ ell_mask).sum()) / area_px,
        "ellipse_overlap": inter / union,
        "elliptic_normalized_circumference": perim / ellipse_perimeter(ell["a"], ell["b"]),
        "margin_irregularity": float(np.sqrt(np.mean(((d - e) / e) ** 2))),
        "spicule_count": float(len(spikes)),
        "spiculation": float(spikes.mean() / r_eq) if len(spikes) else 0.0,
        "nrl_mean": float(nrl.mean()),
        "nrl_sd": float(nrl.std()),
        "nrl_range": float(nrl.max() - nrl.min()),
        "nrl_entropy": float(-(hist * np.log2(hist)).sum()),
        "nrl_area_ratio": float(np.clip(nrl - nrl.mean(), 0, None).sum() / (len(nrl) * nrl.mean())),
        "nrl_zero_crossings": float(_mean_crossings(nrl, NRL_BAND)),
    }


# --------------------------------------------------------------------------- echo / posterior
def _ratio(num: float, den: float) -> float:
    return float(num / den) if abs(den) > 1e-12 else float("nan")


def intensity_features(image: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Echo pattern, margin sharpness and posterior acoustic feature (see module doc); unprefixed keys."""
    img = np.asarray(image, dtype=float)
    if img.shape != np.shape(mask):
        raise MaskError(f"mask shape {np.shape(mask)} differs from image shape {img.shape}")
    m = lesion_mask(mask)
    r_eq = math.sqrt(m.sum() / math.pi)
    w = max(3, round(0.25 * r_eq))
    disk = np.ones((3, 3), bool)
    ring = ndimage.binary_dilation(m, disk, iterations=w) & ~m
    core = ndimage.binary_erosion(m, disk, iterations=w)
    if not core.any():
        core = m
    outer2 = ndimage.binary_dilation(m, disk, iterations=2) & ~m
    inner2 = m & ~ndimage.binary_erosion(m, disk, iterations=2)
    lesion_mean, ring_mean = img[m].mean(), img[ring].mean()
    out = {
        "echo_contrast": _ratio(ring_mean - lesion_mean, ring_mean + lesion_mean),
        "echo_heterogeneity": _ratio(img[m].std(), lesion_mean),
        "margin_sharpness": _ratio(img[outer2].mean() - img[inner2].mean(), ring_mean - img[core].mean()),
    }
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    r0, h = rows[-1] + 1, rows[-1] - rows[0] + 1
    c0, c1 = cols[0], cols[-1] + 1
    half = max(1, (c1 - c0) // 2)
    r1 = min(img.shape[0], r0 + h)
    post = img[r0:r1, c0:c1]
    lateral = np.concatenate([img[r0:r1, max(0, c0 - half) : c0].ravel(), img[r0:r1, c1 : c1 + half].ravel()])
    if post.size == 0 or lateral.size == 0:
        log.warning("posterior acoustic feature undefined: the lesion reaches the bottom or both sides of the image")
        out["posterior_contrast"] = float("nan")
    else:
        out["posterior_contrast"] = _ratio(post.mean() - lateral.mean(), post.mean() + lateral.mean())
    return out


# --------------------------------------------------------------------------- LBP
def lbp_features(image: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """LBP histograms over the lesion (see module doc); unprefixed keys ``LBP_k``, ``LBPu_R{r}_{k}``.

    The image is brought to 8 bits with the same rule as the deep features
    (:func:`alnpredictor.features.deep.intensity_range`) and the codes are computed on a crop
    padded by the largest radius, so pixels at the lesion edge see their true neighbours."""
    from skimage.feature import local_binary_pattern

    from alnpredictor.features.deep import intensity_range

    img = np.asarray(image)
    if img.shape != np.shape(mask):
        raise MaskError(f"mask shape {np.shape(mask)} differs from image shape {img.shape}")
    m = lesion_mask(mask)
    lo, hi = intensity_range(img)
    img8 = np.clip(np.rint((img.astype(float) - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
    pad = max(r for r, _ in LBP_UNIFORM) + 1
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    rs = slice(max(0, rows[0] - pad), rows[-1] + 1 + pad)
    cs = slice(max(0, cols[0] - pad), cols[-1] + 1 + pad)
    sub, msk = img8[rs, cs], m[rs, cs]
    n = float(msk.sum())
    out: dict[str, float] = {}
    codes = local_binary_pattern(sub, 8, 1, method="default")[msk].astype(int)
    for k, v in enumerate(np.bincount(codes, minlength=256) / n):
        out[f"LBP_{k}"] = float(v)
    for radius, points in LBP_UNIFORM:
        codes = local_binary_pattern(sub, points, radius, method="uniform")[msk].astype(int)
        for k, v in enumerate(np.bincount(codes, minlength=points + 2) / n):
            out[f"LBPu_R{radius}_{k}"] = float(v)
    return out


# --------------------------------------------------------------------------- PyRadiomics 2-D
def radiomics_params_path() -> Path:
    """The ultrasound pathway's PyRadiomics parameter file (force2D texture)."""
    from alnpredictor.config import resources_dir

    return resources_dir() / RADIOMICS_PARAMS


def radiomics_features(image, mask, params: str | Path | None = None, allow_border: bool = False) -> dict[str, float]:
    """PyRadiomics 2-D texture of the lesion (``force2D``) through the radiomics module.

    ``image``/``mask`` are SimpleITK images (a single-slice volume); ``params`` defaults to
    :func:`radiomics_params_path`; ``allow_border`` accepts a lesion touching the frame's edge.
    Keys are PyRadiomics feature names (``original_glcm_Contrast`` …)."""
    from alnpredictor.features import radiomics

    params = Path(params) if params is not None else radiomics_params_path()
    if not params.is_file():
        raise InputError(f"PyRadiomics parameter file not found: {params}")
    values, _diagnostics = radiomics.extract_roi(image, mask, params, name="ultrasound lesion",
                                                 allow_border=allow_border)
    return {str(k): float(v) for k, v in values.items()}


# --------------------------------------------------------------------------- all together
def handcrafted_features(
    image,
    mask,
    radiomics: bool = True,
    params: str | Path | None = None,
    allow_border: bool = False,
) -> dict[str, float]:
    """Every handcrafted feature of one frame, prefixed ``US_``.

    ``image``/``mask`` are SimpleITK single-slice (or 2-D) images on the same grid — what
    :func:`alnpredictor.imaging.io.read_volume` gives for an ultrasound frame."""
    import SimpleITK as sitk

    img2, msk2, spacing = frame_arrays(image, mask)
    msk2 = lesion_mask(msk2)  # once per frame: the parts' warning, then one clean lesion for every family
    feats: dict[str, float] = {}
    feats.update(morphology_features(msk2, spacing))
    feats.update(intensity_features(img2, msk2))
    feats.update(lbp_features(img2, msk2))
    if radiomics:
        one = sitk.Cast(sitk.BinaryThreshold(mask, 1, 1e9, 1, 0) if _is_not_binary(mask) else mask, sitk.sitkUInt8)
        feats.update(radiomics_features(image, one, params, allow_border))
    return {PREFIX + k: v for k, v in feats.items()}


def _is_not_binary(mask) -> bool:
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(mask)
    return bool(arr.max() > 1)


def frame_arrays(image, mask) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """2-D arrays ``[row, col]`` of a single-slice image and mask, and (row_mm, column_mm) spacing."""
    import SimpleITK as sitk

    arrays = []
    for what, obj in (("image", image), ("mask", mask)):
        a = sitk.GetArrayFromImage(obj)
        if a.ndim == 3:
            if a.shape[0] != 1:
                raise InputError(
                    f"the ultrasound {what} has {a.shape[0]} slices; the ultrasound pathway needs one 2-D frame "
                    "(export the frame at the lesion's largest diameter)"
                )
            a = a[0]
        if a.ndim != 2:
            raise InputError(f"the ultrasound {what} must be a 2-D frame; got array shape {a.shape}")
        arrays.append(a)
    if arrays[0].shape != arrays[1].shape:
        raise MaskError(f"mask grid {arrays[1].shape} differs from image grid {arrays[0].shape}; use the mask of this image")
    # the handcrafted families read the arrays directly: the same geometry and voxel checks as extraction
    check_geometry(image, "the ultrasound frame")
    check_voxels(image, "the ultrasound frame", roi=lambda: (arrays[1] > 0).reshape(sitk.GetArrayViewFromImage(image).shape))
    sx, sy = image.GetSpacing()[:2]
    return arrays[0], arrays[1] > 0, (float(sy), float(sx))
