"""A synthetic multi-centre breast MRI cohort, generated on the fly from a seed.

Each patient has three sequences at realistic (reduced field-of-view) geometries — contrast T1
(T1C), T2WI and an ADC map — a breast tumor and one to four axillary lymph nodes, patient motion
between the sequences, and site-specific scanner effects. Nothing here is real patient data; it
exists so that the whole pipeline (seeds → grow-cut → propagation → N4 → radiomics → signature →
external validation → report) can be demonstrated and tested end to end.

Latent model (documented so that results can be interpreted):

* each patient has a latent aggressiveness ``z ~ N(0, 1)``;
* metastasis ``y ~ Bernoulli(sigmoid(-0.6 + 2.0 z))`` (about 35 % positive, close to the
  studies' ALNM rates);
* signal carried by the images, all increasing with ``z`` (plus independent noise):
  node short-axis size (4 → 11 mm), node roundness (loss of the elongated, fatty-hilum shape),
  node internal heterogeneity, tumor internal heterogeneity and margin irregularity (spiculation
  amplitude), tumor ADC decrease (restricted diffusion);
* clinical variables: age (weakly younger with ``z``), clinical T stage (from tumor diameter),
  clinical N stage (a noisy reading of node size, as axillary palpation/US would be), Ki-67 (rises
  with ``z``), molecular subtype (luminal A more likely at low ``z``).

Scanner effects per site: intensity gain and offset per sequence, noise level, bias-field
strength and slightly different voxel spacing. Motion: a random rigid transform (up to 3 mm,
2°) of the patient between T1C and each of T2 / ADC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from alnpredictor.imaging.coords import ras_lps

#: Per-sequence geometry: size (x, y, z) and spacing in mm. Reduced field of view around the
#: breast and axilla (keeps the demo fast); spacings as in the MRI study's protocols.
SEQUENCE_GEOMETRY = {
    "T1C": ((128, 112, 40), (0.8, 0.8, 1.5)),
    "T2": ((120, 96, 20), (0.9, 0.9, 3.0)),
    "ADC": ((64, 56, 14), (1.6, 1.6, 4.0)),
}

#: Site effects: per-sequence gain, noise sd (fraction of tissue signal), bias-field strength,
#: spacing scale.
SITES = {
    "A": {"gain": {"T1C": 1.00, "T2": 1.00, "ADC": 1.00}, "noise": 0.04, "bias": 0.15, "spacing": 1.00},
    "B": {"gain": {"T1C": 1.25, "T2": 0.85, "ADC": 1.05}, "noise": 0.06, "bias": 0.25, "spacing": 1.05},
    "C": {"gain": {"T1C": 0.80, "T2": 1.15, "ADC": 0.95}, "noise": 0.05, "bias": 0.20, "spacing": 0.95},
}

# Tissue signal per sequence (arbitrary units, ADC in 1e-6 mm²/s): fat, fibroglandular, tumor, node.
_TISSUE = {
    "T1C": {"fat": 110.0, "gland": 260.0, "tumor": 820.0, "node": 560.0, "air": 8.0},  # fat-suppressed DCE
    "T2": {"fat": 700.0, "gland": 380.0, "tumor": 450.0, "node": 520.0, "air": 8.0},
    "ADC": {"fat": 300.0, "gland": 1900.0, "tumor": 1150.0, "node": 1000.0, "air": 0.0},
}


@dataclass
class SyntheticPatient:
    """One synthetic patient: images (LPS SimpleITK), true masks on T1C, seeds, clinical data."""

    case_id: str
    site: str
    label: int
    latent: float
    images: dict[str, sitk.Image]
    truth: dict[str, sitk.Image]  # 'tumor', 'nodes' on the T1C grid
    seeds_ras: dict[str, list[list[float]]]  # user-like clicks, RAS mm
    clinical: dict[str, float | int | str]
    motion: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-sd smooth noise on a 1 mm grid (texture shared by all sequences)."""
    field_ = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return (field_ - field_.mean()) / (field_.std() + 1e-6)


def _grid(size, spacing, origin_lps, direction=None) -> sitk.Image:
    img = sitk.Image([int(s) for s in size], sitk.sitkFloat32)
    img.SetSpacing([float(s) for s in spacing])
    img.SetOrigin([float(o) for o in origin_lps])
    if direction is not None:
        img.SetDirection(direction)
    return img


def _physical_points(img: sitk.Image) -> np.ndarray:
    """LPS coordinates of every voxel centre, array (z, y, x, 3)."""
    size = img.GetSize()
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij"), axis=-1)[..., ::-1]
    direction = np.asarray(img.GetDirection()).reshape(3, 3)
    return idx * np.asarray(img.GetSpacing()) @ direction.T + np.asarray(img.GetOrigin())


class _Phantom:
    """Analytic anatomy in patient (LPS mm) coordinates, sampled by each sequence."""

    def __init__(self, rng: np.random.Generator, z: float, extent_mm: np.ndarray, origin: np.ndarray) -> None:
        self.origin = origin
        self.extent = extent_mm
        n = tuple(int(e) + 2 for e in extent_mm[::-1])  # 1 mm noise grid, (z, y, x)
        self.tex_fine = _smooth_noise(rng, n, 1.2)
        self.tex_coarse = _smooth_noise(rng, n, 6.0)
        self.gland = _smooth_noise(rng, n, 4.0)
        centre = origin + extent_mm / 2
        # Tumor: in the breast (medial-anterior part of the field), radius 6–14 mm.
        self.tumor_c = centre + np.array([-18.0, 8.0, 0.0]) + rng.normal(0, 4, 3) * [1, 1, 0.5]
        self.tumor_r = float(np.clip(8.5 + 2.2 * z * 0.4 + rng.normal(0, 1.8), 5.5, 15.0))
        self.tumor_axes = self.tumor_r * np.clip(rng.normal(1, 0.12, 3), 0.75, 1.25)
        self.spic_amp = float(np.clip(0.08 + 0.10 * (z + 1) / 2 + rng.normal(0, 0.03), 0.02, 0.35))
        self.spic_k = rng.normal(0, 1, (6, 3))
        self.tumor_het = float(np.clip(0.10 + 0.10 * (z + 1.2) / 2 + rng.normal(0, 0.03), 0.03, 0.4))
        # Nodes: lateral-superior (axilla), 1–4 nodes; size/roundness/heterogeneity rise with z.
        n_nodes = int(np.clip(rng.poisson(0.4 + 1.0 * max(z, 0)) + 1, 1, 4))
        axilla = centre + np.array([30.0, -10.0, 0.0])
        self.nodes = []
        for i in range(n_nodes):
            short = float(np.clip(3.0 + 1.6 * z + rng.normal(0, 0.9), 2.2, 6.5))  # semi-axis, mm
            roundness = float(np.clip(0.55 + 0.15 * z + rng.normal(0, 0.08), 0.45, 1.0))
            long_ = short / roundness
            c = axilla + np.array([rng.normal(0, 5), i * 16.0 - 12 + rng.normal(0, 2), rng.normal(0, 6)])
            self.nodes.append((c, np.array([long_, short, short * 1.05]), rng.uniform(0, np.pi)))
        self.node_het = float(np.clip(0.06 + 0.08 * (z + 1) / 2 + rng.normal(0, 0.03), 0.02, 0.35))

    def _sample(self, volume: np.ndarray, pts: np.ndarray) -> np.ndarray:
        coords = ((pts - self.origin)[..., ::-1]).reshape(-1, 3).T  # (z, y, x) on the 1 mm grid
        return ndimage.map_coordinates(volume, coords, order=1, mode="nearest").reshape(pts.shape[:-1])

    def labels(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boolean tumor, node and body masks at the given LPS points (..., 3)."""
        d = (pts - self.tumor_c) / self.tumor_axes
        r = np.linalg.norm(d, axis=-1)
        u = d / np.maximum(r[..., None], 1e-6)
        # Irregular margin: low-order angular modulation of the radius (spiculation amplitude).
        modulation = sum(np.sin(u @ k * 3.0 + j) for j, k in enumerate(self.spic_k)) / len(self.spic_k)
        tumor = r < 1.0 + self.spic_amp * modulation
        node = np.zeros(pts.shape[:-1], bool)
        for c, axes, angle in self.nodes:
            rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
            q = (pts - c) @ rot / axes
            node |= np.linalg.norm(q, axis=-1) < 1.0
        node &= ~tumor
        # Body: everything posterior to a curved skin line (air in front of the breast).
        rel = pts - self.origin
        skin = 8.0 + 0.004 * (rel[..., 0] - self.extent[0] / 2) ** 2
        body = rel[..., 1] > skin
        return tumor & body, node & body, body

    def image(self, seq: str, pts: np.ndarray, site: dict, rng: np.random.Generator, z: float) -> np.ndarray:
        tumor, node, body = self.labels(pts)
        t = _TISSUE[seq]
        fine, coarse, gland = (self._sample(v, pts) for v in (self.tex_fine, self.tex_coarse, self.gland))
        is_gland = gland > 0.4
        img = np.where(is_gland, t["gland"], t["fat"]) * (1 + 0.05 * coarse)
        tumor_signal = t["tumor"] * (1 + self.tumor_het * fine + 0.5 * self.tumor_het * coarse)
        if seq == "ADC":  # restricted diffusion: lower ADC in aggressive tumors
            tumor_signal = tumor_signal * (1.0 - 0.12 * np.tanh(z))
        node_signal = t["node"] * (1 + self.node_het * fine)
        img = np.where(tumor, tumor_signal, img)
        img = np.where(node, node_signal, img)
        img = np.where(body, img, t["air"])
        # Scanner: smooth multiplicative bias field, gain, Rician-like noise.
        rel = (pts - self.origin) / self.extent
        bias = 1 + site["bias"] * (rel[..., 0] - 0.5) + 0.5 * site["bias"] * (rel[..., 2] - 0.5) ** 2
        img = img * bias * site["gain"][seq]
        sd = site["noise"] * t["gland"]
        img = np.abs(img + rng.normal(0, sd, img.shape) + 1j * rng.normal(0, sd, img.shape))
        return img.astype(np.float32)


def _motion(rng: np.random.Generator, max_mm: float = 3.0, max_deg: float = 2.0) -> sitk.Euler3DTransform:
    t = sitk.Euler3DTransform()
    angles = np.deg2rad(rng.uniform(-max_deg, max_deg, 3))
    t.SetRotation(*[float(a) for a in angles])
    v = rng.normal(size=3)
    t.SetTranslation([float(x) for x in v / np.linalg.norm(v) * rng.uniform(0.5, max_mm)])
    return t


def make_patient(case_id: str, site: str, rng: np.random.Generator) -> SyntheticPatient:
    """Generate one patient of a site (see the module docstring for the latent model)."""
    s = SITES[site]
    z = float(rng.standard_normal())
    label = int(rng.random() < _sigmoid(-0.6 + 2.0 * z))
    size1, sp1 = SEQUENCE_GEOMETRY["T1C"]
    extent = np.asarray(size1) * np.asarray(sp1) * s["spacing"]
    origin = np.array([-extent[0] / 2, -extent[1] / 2, -extent[2] / 2])
    phantom = _Phantom(rng, z, extent, origin)
    images: dict[str, sitk.Image] = {}
    motion: dict[str, dict[str, list[float]]] = {}
    truth: dict[str, sitk.Image] = {}
    for seq, (size, spacing) in SEQUENCE_GEOMETRY.items():
        sp = np.asarray(spacing) * s["spacing"]
        seq_extent = np.asarray(size) * sp
        grid = _grid(size, sp, origin + (extent - seq_extent) / 2 + sp / 2)
        pts = _physical_points(grid)
        if seq != "T1C":
            tr = _motion(rng)
            motion[seq] = {"rotation_rad": list(tr.GetParameters()[:3]), "translation_mm": list(tr.GetTranslation())}
            # The patient moved: a scanner point p sees anatomy at T(p).
            pts = _apply(tr, pts)
        arr = phantom.image(seq, pts, s, rng, z)
        img = sitk.GetImageFromArray(arr)
        img.CopyInformation(grid)
        images[seq] = img
        if seq == "T1C":
            tumor, node, _ = phantom.labels(pts)
            for name, m in (("tumor", tumor), ("nodes", node)):
                mask = sitk.GetImageFromArray(m.astype(np.uint8))
                mask.CopyInformation(grid)
                truth[name] = mask
    seeds = {
        "tumor": [_user_click(phantom.tumor_c, rng, 1.0)],
        "nodes": [_user_click(c, rng, 0.6) for c, _, _ in phantom.nodes],
    }
    diameter_mm = 2 * float(np.mean(phantom.tumor_axes))
    largest_node = max(float(a[1]) * 2 for _, a, _ in phantom.nodes)
    clinical = {
        "age": int(np.clip(round(rng.normal(52 - 3 * z, 10)), 26, 85)),
        "clinical_T": 1 if diameter_mm <= 20 else 2,
        "clinical_N": int(largest_node + rng.normal(0, 1.5) > 10.0),
        "ki67": float(np.clip(round(20 + 12 * z + rng.normal(0, 10)), 1, 90)),
        "subtype": ["luminal_A", "luminal_B", "HER2", "triple_negative"][
            int(np.clip(round(1.2 + 0.8 * z + rng.normal(0, 0.8)), 0, 3))
        ],
    }
    return SyntheticPatient(case_id, site, label, z, images, truth, seeds, clinical, motion)


def _apply(tr: sitk.Transform, pts: np.ndarray) -> np.ndarray:
    """Apply a rigid transform to an array of LPS points (..., 3) with numpy."""
    matrix = np.asarray(tr.GetMatrix()).reshape(3, 3)
    centre = np.asarray(tr.GetCenter())
    translation = np.asarray(tr.GetTranslation())
    return (pts - centre) @ matrix.T + centre + translation


def _user_click(centre_lps: np.ndarray, rng: np.random.Generator, jitter_mm: float) -> list[float]:
    """A seed as a radiologist would click it: near the centre, in RAS."""
    return [float(v) for v in ras_lps(centre_lps + rng.normal(0, jitter_mm, 3) * [1, 1, 0.3])]


def make_cohort(seed: int = 7, sizes: dict[str, int] | None = None):
    """Yield patients site by site; ``sizes`` maps site → number of patients."""
    sizes = sizes or {"A": 48, "B": 24, "C": 24}
    rng = np.random.default_rng(seed)
    for site, n in sizes.items():
        for i in range(n):
            child = np.random.default_rng(rng.integers(2**32))
            yield make_patient(f"{site}{i + 1:03d}", site, child)


def write_patients(patients, folder, *, masks: bool = False, seeds: bool = True) -> Path:
    """Write patients as NRRD files plus a cohort manifest (``manifest.csv``); returns its path.

    ``seeds=True`` puts the user-like clicks in ``seeds_tumor``/``seeds_nodes`` (the pipeline then
    segments); ``masks=True`` writes the true T1C masks and lists them instead.
    """
    import csv

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in patients:
        case_dir = folder / p.case_id
        case_dir.mkdir(exist_ok=True)
        row: dict[str, object] = {"case_id": p.case_id, "site": p.site, "pathway": "mri", "label": p.label}
        for seq, img in p.images.items():
            sitk.WriteImage(img, str(case_dir / f"{seq}.nrrd"), True)
            row[f"image_{seq}"] = f"{p.case_id}/{seq}.nrrd"
        if masks:
            for name, m in p.truth.items():
                sitk.WriteImage(m, str(case_dir / f"{name}.nrrd"), True)
                row[f"mask_{name}"] = f"{p.case_id}/{name}.nrrd"
        elif seeds:
            for name, pts in p.seeds_ras.items():
                row[f"seeds_{name}"] = ";".join(",".join(f"{v:.2f}" for v in pt) for pt in pts)
        row.update(p.clinical)
        rows.append(row)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return manifest
