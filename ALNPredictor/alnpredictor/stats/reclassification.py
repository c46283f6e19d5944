"""Reclassification between an old and a new model: net reclassification improvement (NRI,
categorical and continuous) and integrated discrimination improvement (IDI), after Pencina et
al., Stat Med 2008 (and Pencina, Steyerberg & D'Agostino, Stat Med 2011 for continuous NRI).

Standard errors use the asymptotic multinomial variance of each component; z-tests are two-sided.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from alnpredictor.errors import InputError


def _inputs(y, p_old, p_new):
    yb = np.asarray(y).astype(bool)
    a, b = np.asarray(p_old, dtype=float), np.asarray(p_new, dtype=float)
    if not (yb.shape == a.shape == b.shape):
        raise InputError("labels and both models' probabilities must have the same length")
    if yb.all() or not yb.any():
        raise InputError("reclassification needs both positive and negative cases")
    return yb, a, b


def _z(estimate: float, se: float, level: float) -> dict:
    zq = norm.ppf(0.5 + level / 2.0)
    z = estimate / se if se > 0 else 0.0
    return {
        "se": float(se),
        "ci": [float(estimate - zq * se), float(estimate + zq * se)],
        "z": float(z),
        "p_value": float(2 * norm.sf(abs(z))) if se > 0 else 1.0,
    }


def nri(y, p_old, p_new, cutoffs=None, level: float = 0.95) -> dict:
    """Net reclassification improvement of the new model over the old one.

    With ``cutoffs`` (e.g. ``[0.407]``) risk categories are compared (categorical NRI);
    without, any increase/decrease in predicted risk counts (continuous NRI, "NRI(>0)").
    """
    yb, a, b = _inputs(y, p_old, p_new)
    if cutoffs is None:
        up, down = b > a, b < a
        kind = "continuous"
    else:
        edges = np.sort(np.asarray(cutoffs, dtype=float))
        ca, cb = np.searchsorted(edges, a, side="right"), np.searchsorted(edges, b, side="right")
        up, down = cb > ca, cb < ca
        kind = "categorical"
    ne, nn = int(yb.sum()), int((~yb).sum())
    pu_e, pd_e = up[yb].mean(), down[yb].mean()
    pu_n, pd_n = up[~yb].mean(), down[~yb].mean()
    nri_e, nri_n = pu_e - pd_e, pd_n - pu_n
    var = ((pu_e + pd_e) - (pu_e - pd_e) ** 2) / ne + ((pu_n + pd_n) - (pu_n - pd_n) ** 2) / nn
    out = {
        "kind": kind,
        "cutoffs": None if cutoffs is None else [float(c) for c in np.sort(cutoffs)],
        "nri": float(nri_e + nri_n),
        "nri_events": float(nri_e),
        "nri_nonevents": float(nri_n),
        "events_up": int(up[yb].sum()), "events_down": int(down[yb].sum()),
        "nonevents_up": int(up[~yb].sum()), "nonevents_down": int(down[~yb].sum()),
        "n_events": ne, "n_nonevents": nn,
    }
    out.update(_z(out["nri"], float(np.sqrt(var)), level))
    return out


def idi(y, p_old, p_new, level: float = 0.95) -> dict:
    """Integrated discrimination improvement: change in discrimination slope (mean risk in
    events minus mean risk in non-events) from the old to the new model."""
    yb, a, b = _inputs(y, p_old, p_new)
    d = b - a
    de, dn = d[yb], d[~yb]
    est = float(de.mean() - dn.mean())
    se = float(np.sqrt(de.var(ddof=1) / de.size + dn.var(ddof=1) / dn.size))
    out = {
        "idi": est,
        "discrimination_slope_old": float(a[yb].mean() - a[~yb].mean()),
        "discrimination_slope_new": float(b[yb].mean() - b[~yb].mean()),
    }
    out.update(_z(est, se, level))
    return out
