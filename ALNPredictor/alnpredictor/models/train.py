"""``train_model``: fit a registered recipe on a feature table and describe the result.

The recipes live in :mod:`alnpredictor.models.recipes` (one module each, listed in its
``RECIPES`` registry). ``train_model`` does what every recipe shares: it checks the request
(recipe, options, table, clinical columns), picks the feature columns, keeps complete cases,
turns the label into 0/1 and encodes the clinical fields; the recipe fits; then every model ends
the same way: cut-off by Youden's index on the training cohort (unless given), apparent training
metrics with DeLong CI, per-feature training statistics for the sanity checks, and (linear
models) a nomogram points scale, all in the spec that becomes the model card and ``model.json``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnpredictor import __version__
from alnpredictor.errors import ClinicalDataError, InputError
from alnpredictor.models import nomogram as nomo
from alnpredictor.models.clinical import PLAUSIBLE, check_clinical_table
from alnpredictor.models.design import (
    DROP_REASONS,
    candidate_features,
    clinical_columns,
    display_range,
    encode_clinical,
    infer_clinical_fields,
    numeric_block,
)
from alnpredictor.models.fitted import INTENDED_USE, RESEARCH_USE, SCHEMA, SCHEMA_VERSION, FittedModel
from alnpredictor.models.labels import binary_labels, value_key
from alnpredictor.models.recipes import RECIPES, FeatureSelection, RecipeFit, TrainingData, get_recipe
from alnpredictor.models.recipes.base import check_cutoff
from alnpredictor.stats.auc import AUCResult, delong_auc
from alnpredictor.stats.calibration import brier_score, slope_intercept
from alnpredictor.stats.checks import feature_statistics
from alnpredictor.stats.metrics import binary_metrics, youden_cutoff


@dataclass(frozen=True)
class TrainingOptions:
    """Options every recipe takes (the recipe's own options are its ``Options`` dataclass).

    :ivar features: feature columns to use (default: the columns named as imaging features,
        ``{ROI}{SEQ}_...``, ``US_...``, ``DL_<i>``; never a clinical variable or an identifier unless
        listed here).
    :ivar exclude: columns that are not features.
    :ivar icc_keep: names or a file: the features that passed the ICC filter (restricts explicit
        ``features``; without them, the keep-list's names that are table columns are the features).
    :ivar name: model name (default: the recipe's name).
    :ivar site: training site (recorded in the model card).
    :ivar seed: random seed (CV folds, forests).
    :ivar cutoff: fixed probability cut-off instead of Youden's (0 < cut-off < 1).
    :ivar clinical_types: ``{column: 'number'|'integer'|'choice'}`` overriding the inferred types.
    :ivar intended_use: intended-use statement for the model card.
    """

    features: Sequence[str] | None = None
    exclude: Sequence[str] | None = None
    icc_keep: Any = None
    name: str | None = None
    site: str | None = None
    seed: int = 0
    cutoff: float | None = None
    clinical_types: Mapping[str, str] | None = None
    intended_use: str | None = None

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(cls))

    def validate(self) -> None:
        """Refuse a cut-off that is not a probability strictly between 0 and 1."""
        if self.cutoff is not None:
            check_cutoff(self.cutoff)


def software_versions() -> dict[str, str]:
    """Versions of the libraries that produced a model (recorded in the bundle)."""
    import scipy
    import sklearn
    import skops
    import statsmodels

    return {"alnpredictor": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "statsmodels": statsmodels.__version__, "skops": skops.__version__, **_radiomics_version()}


def _radiomics_version() -> dict[str, str]:
    """PyRadiomics' version when it is installed (the features of MRI/US models come from it; the
    Slicer panel warns when the installed one differs)."""
    try:
        import radiomics
    except ImportError:
        return {}
    return {"pyradiomics": str(radiomics.__version__)}


def _read_keep_list(keep: Any) -> list[str]:
    """ICC keep-list: a list of names, or a file (one name per line, or a CSV with 'feature')."""
    if isinstance(keep, (str, Path)):
        path = Path(keep)
        if not path.is_file():
            raise InputError(f"ICC keep-list not found: {path}")
        text = path.read_text(encoding="utf-8").splitlines()
        if text and "," in text[0]:
            table = pd.read_csv(path)
            col = next((c for c in table.columns if str(c).lower() in ("feature", "name")), None)
            if col is None:
                raise InputError(f"ICC keep-list {path.name} needs a 'feature' column")
            return table[col].astype(str).str.strip().tolist()
        return [t.strip() for t in text if t.strip() and not t.startswith("#")]
    return [str(k) for k in keep]


def _select_candidates(df: pd.DataFrame, label: str, clinical: Sequence[str],
                       opts: TrainingOptions) -> FeatureSelection:
    """The standard feature columns, and why every other column is not one (``dropped_columns``).

    Explicit ``features`` are used as given; otherwise an ICC keep-list names the features (those of
    its names that are table columns); otherwise the columns named as imaging features
    (:func:`~alnpredictor.models.design.candidate_features`: never the clinical variables or
    identifiers), less those with missing values. Constant columns are dropped in every case."""
    notes: dict[str, Any] = {}
    dropped: dict[str, str] = {}
    skip = {label, *clinical}
    if opts.features is not None:
        feats = [str(f) for f in opts.features]
        missing = [f for f in feats if f not in df.columns]
        if missing:
            raise InputError(f"feature column(s) not in the training table: {missing[:8]}; check the feature list")
        listed = set(feats)
        dropped.update({str(c): DROP_REASONS["not_listed"] for c in df.columns
                        if c not in skip and str(c) not in listed})
    else:
        named = candidate_features(df, label, clinical, opts.exclude or (), dropped)
        if opts.icc_keep is not None:
            # the keep-list names the features itself (tables of other naming schemes, e.g. EVC1)
            keep = set(_read_keep_list(opts.icc_keep))
            feats = [str(c) for c in df.columns if str(c) in keep and c not in skip and c not in set(opts.exclude or ())]
            if not feats:
                raise InputError("the ICC keep-list names none of the table's feature columns; check the names")
            notes["icc_keep"] = {"listed": len(keep), "kept": len(feats),
                                 "removed": len([f for f in named if f not in keep])}
            for f in feats:
                dropped.pop(f, None)
            dropped.update({f: DROP_REASONS["not_icc_kept"] for f in named if f not in keep})
        else:
            feats = named
        with_missing = [f for f in feats if df[f].isna().any()]
        if with_missing:
            notes["excluded_missing_values"] = with_missing
            for f in with_missing:
                dropped[f] = f"{DROP_REASONS['missing']} ({int(df[f].isna().sum())} case(s))"
            feats = [f for f in feats if f not in set(with_missing)]
    if opts.features is not None and opts.icc_keep is not None:
        keep = set(_read_keep_list(opts.icc_keep))
        kept = [f for f in feats if f in keep]
        if not kept:
            raise InputError("the ICC keep-list names none of the table's feature columns; check the names")
        notes["icc_keep"] = {"listed": len(keep), "kept": len(kept), "removed": len(feats) - len(kept)}
        dropped.update({f: DROP_REASONS["not_icc_kept"] for f in feats if f not in keep})
        feats = kept
    constant = [f for f in feats if pd.to_numeric(df[f], errors="coerce").nunique(dropna=True) <= 1]
    if constant:
        notes["excluded_constant"] = constant
        dropped.update({f: DROP_REASONS["constant"] for f in constant})
        feats = [f for f in feats if f not in set(constant)]
    notes["dropped_columns"] = dropped
    return FeatureSelection(feats, notes)


def describe_dropped(dropped: Mapping[str, str], limit: int | None = None) -> str:
    """``{column: reason}`` as one line grouped by reason: ``reason: a, b; reason: c`` (at most ``limit``
    names per reason, then how many more)."""
    groups: dict[str, list[str]] = {}
    for col, reason in dropped.items():
        groups.setdefault(reason, []).append(col)
    parts = []
    for reason, cols in groups.items():
        shown = cols if limit is None else cols[:limit]
        more = f" and {len(cols) - len(shown)} more" if len(cols) > len(shown) else ""
        parts.append(f"{reason}: {', '.join(shown)}{more}")
    return "; ".join(parts)


def _check_degenerate(y: np.ndarray, prob: np.ndarray, lp: np.ndarray, recipe: str) -> AUCResult:
    """Refuse a fit that cannot rank patients: non-finite or constant training predictions, or an
    apparent (training-cohort) AUC below chance — e.g. an RBF SVM on many more noise features than
    cases, whose cross-validated Platt scaling turns its ranking upside down (AUC 0.000)."""
    if not (np.all(np.isfinite(prob)) and np.all(np.isfinite(lp))):
        raise InputError(f"the {recipe} fit is unusable: it gives non-finite probabilities on its own training "
                         "cases; check the features for extreme values")
    if np.ptp(lp) == 0:
        raise InputError(f"the {recipe} fit is unusable: it gives every training case the same probability "
                         f"({float(prob[0]):.3f}), so it cannot rank patients; the features carry no signal it can "
                         "use — select fewer, informative features or collect more cases")
    result = delong_auc(y, lp)
    auc = result.auc
    if auc < 0.5:
        raise InputError(f"the {recipe} fit is unusable: its apparent AUC on its own training cohort is "
                         f"{auc:.3f}, below chance (n {y.size}): it learnt no usable signal (typical of many more "
                         "features than cases) — select fewer features (--feature-list, --icc-keep) or collect more "
                         "cases")
    return result


def _linear_predictors(features: Sequence[str], x_raw: np.ndarray, fields: Sequence[dict],
                       coefs: Sequence[float], design: Sequence[str], table: pd.DataFrame,
                       signature: dict | None, sig_values: np.ndarray | None) -> list[dict]:
    """Points predictors for a linear model (one per feature / signature / clinical field)."""
    coef_of = dict(zip(design, coefs))
    preds = []
    if signature is not None:
        preds.append({"name": signature["name"], "kind": "continuous", "columns": [signature["name"]],
                      "coefficients": [coef_of[signature["name"]]], "range": list(display_range(sig_values))})
    else:
        for j, f in enumerate(features):
            preds.append({"name": f, "kind": "continuous", "columns": [f], "coefficients": [coef_of[f]],
                          "range": list(display_range(x_raw[:, j]))})
    for f in fields:
        if f["type"] == "choice":
            cols = [f"{f['name']}={lev}" for lev in f["values"][1:]]
            preds.append({"name": f["name"], "kind": "categorical", "columns": cols,
                          "coefficients": [coef_of[c] for c in cols], "levels": list(f["values"])})
        else:
            vals = pd.to_numeric(table[f["name"]], errors="coerce").to_numpy(float)
            rng = list(display_range(vals))  # rms: the values if at most 10, else pretty(range)
            preds.append({"name": f["name"], "kind": "continuous", "columns": [f["name"]],
                          "coefficients": [coef_of[f["name"]]], "range": [float(r) for r in rng],
                          "integer": f["type"] == "integer", "values": f.get("values")})
    return preds


def train_model(df: pd.DataFrame, label: str, recipe: str, clinical: Sequence[str] | None = None,
                positive: Any = 1, **opts: Any) -> FittedModel:
    """Train the registered ``recipe`` on ``df`` (one row per case) to predict ``label == positive``.

    :param clinical: clinical columns (refused by imaging-only recipes such as ``lasso-logistic``).
    :param opts: the common :class:`TrainingOptions` (``features``, ``exclude``, ``icc_keep``,
        ``name``, ``site``, ``seed``, ``cutoff``, ``clinical_types``, ``intended_use``) plus the
        recipe's own options: the fields of its ``Options`` dataclass, with their defaults and
        checks, in ``alnpredictor.models.recipes.<recipe>`` (e.g. svm-rbf ``C``, ``gamma``;
        lasso-logistic ``n_folds``, ``lambda_rule``; nomogram ``signature``, ``signature_column``,
        ``cross_fit``). An option of another recipe is refused with the allowed names.
    :returns: the fitted model with its cut-off, training metrics, feature statistics and (linear
        models) points scale.
    """
    recipe_def = get_recipe(recipe)
    allowed = TrainingOptions.names() | recipe_def.options.names()
    unknown = set(opts) - allowed
    if unknown:
        raise InputError(f"option(s) {sorted(unknown)} do not apply to recipe {recipe!r}; allowed: "
                         f"{sorted(allowed)}")
    common = TrainingOptions(**{k: v for k, v in opts.items() if k in TrainingOptions.names()})
    common.validate()
    options = recipe_def.make_options({k: v for k, v in opts.items() if k in recipe_def.options.names()})
    if not isinstance(df, pd.DataFrame) or df.empty:
        raise InputError("the training table is empty")
    clinical = [str(c) for c in (clinical or [])]
    if clinical and not recipe_def.accepts_clinical:
        raise InputError(f"{recipe} builds an imaging signature without clinical variables; add clinical "
                         "variables with the nomogram recipe")
    seed = int(common.seed)
    missing_clin = [c for c in clinical if c not in df.columns]
    if missing_clin:
        raise ClinicalDataError(f"clinical column(s) {missing_clin} not in the training table")

    # --- which columns the model reads -------------------------------------------------------
    selection = recipe_def.select_features(df, options) if recipe_def.select_features else None
    if selection is None:
        selection = _select_candidates(df, label, clinical, common)
    else:  # the recipe's signature decides; say so for every other column
        notes = dict(selection.notes)
        notes.setdefault("dropped_columns", {str(c): "not read by the signature" for c in df.columns
                                             if c not in {label, *clinical, *selection.features}})
        selection = dataclasses.replace(selection, notes=notes)
    features = list(selection.features)
    if recipe_def.needs_features and not features:
        dropped = selection.notes.get("dropped_columns") or {}
        raise InputError("no feature columns to train on: features are the columns named {ROI}{SEQ}_..., US_... "
                         "or DL_<i>, or those listed with --feature-list"
                         + (f"; not used: {describe_dropped(dropped, limit=6)}" if dropped else ""))
    missing_cols = [c for c in features if c not in df.columns]
    if missing_cols:
        raise InputError(f"the training table lacks feature column(s) {missing_cols[:8]}")
    both = sorted(set(features) & set(clinical))
    if both:
        raise InputError(f"column(s) {both} are both features and clinical variables; use each column once")

    # --- complete cases ----------------------------------------------------------------------
    used_cols = features + clinical
    complete = ~df[used_cols].isna().any(axis=1) if used_cols else pd.Series(True, index=df.index)
    n_excluded = int((~complete).sum())
    kept = df.loc[complete]
    if kept.empty:
        raise InputError("no training case has every feature and clinical value; check the table for blanks")
    numeric_block(kept, features)  # text or an infinite value: an error naming the column and the row
    fields = infer_clinical_fields(kept, clinical, common.clinical_types)  # ranges of the cases used
    # impossible values (age −5, Ki-67 1e6, inf) in clinical columns or clinical-named features
    check_clinical_table(fields, kept, features=[f for f in features if f in PLAUSIBLE], what="the training table")
    table = kept.reset_index(drop=True)
    y = binary_labels(table, label, positive)
    data = TrainingData(table=table, y=y, label=label, positive=positive, features=features,
                        x_raw=numeric_block(table, features), fields=fields, x_clin=encode_clinical(table, fields),
                        clinical_columns=clinical_columns(fields), seed=seed, signature=selection.signature,
                        name=common.name)

    # --- the recipe ----------------------------------------------------------------------------
    fitted: RecipeFit = recipe_def.fit(data, options)
    features = list(fitted.features)
    details: dict[str, Any] = {**selection.notes, **fitted.details}

    # --- cut-off, metrics, statistics --------------------------------------------------------
    spec: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "name": str(common.name or recipe),
        "recipe": recipe,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "intended_use": str(common.intended_use or INTENDED_USE),
        "research_use": RESEARCH_USE,
        "label": {"column": label, "positive": positive if isinstance(positive, (int, float, str)) else
                  value_key(positive)},
        "inputs": {"features": features, "clinical": fields},
        "signature": fitted.signature,
        "design": list(fitted.design),
        "predictor": fitted.predictor,
        "has_intercept": fitted.has_intercept,
        "cutoff": None,
        "training": None,
        "metrics": None,
        "feature_stats": {},
        "points": None,
        "details": details,
        "software": software_versions(),
    }
    model = FittedModel(spec, fitted.estimator, fitted.signature_estimator)
    prob = model.predict_proba(table)
    lp = model.decision_function(table)
    auc = _check_degenerate(y, prob, lp, recipe)  # the apparent AUC (DeLong)
    if common.cutoff is not None:
        cut = {"value": float(common.cutoff), "method": "given", "source": "user"}
    else:
        yc = youden_cutoff(y, prob)
        cut = {"value": yc["cutoff"], "method": yc["method"], "source": "training cohort",
               "sensitivity": yc["sensitivity"], "specificity": yc["specificity"]}
    spec["cutoff"] = cut
    spec["metrics"] = {
        "kind": "apparent (training cohort)",
        "auc": auc.auc, "auc_ci": [auc.ci_low, auc.ci_high], "auc_method": "DeLong",
        "brier": brier_score(y, prob),
        "calibration": slope_intercept(y, prob, lp),
        "at_cutoff": dict(binary_metrics(y, prob, cut["value"])),
    }
    spec["training"] = {
        "n": int(y.size), "n_positive": int(y.sum()), "prevalence": float(y.mean()),
        "n_excluded_missing": n_excluded, "site": common.site,
        "label_column": label, "positive_value": spec["label"]["positive"],
        "n_candidate_features": fitted.n_candidate_features,
    }
    numeric_clin = [f["name"] for f in fields if f["type"] != "choice"]
    spec["feature_stats"] = feature_statistics(table, y, features + numeric_clin)
    for f in fields:
        if f["type"] == "choice":
            keys = table[f["name"]].map(value_key)
            spec["feature_stats"][f["name"]] = {
                "levels": {lev: {"n": int((keys == lev).sum()),
                                 "positive_rate": float(y[(keys == lev).to_numpy()].mean())
                                 if (keys == lev).any() else None}
                           for lev in f["values"]}}
    if model.is_linear:
        sig_scores = model.design_matrix(table)[:, 0] if fitted.signature else None
        preds = _linear_predictors(features, fitted.x_raw, fields, fitted.predictor["coefficients"],
                                   fitted.design, table, fitted.signature, sig_scores)
        spec["points"] = nomo.build_points(preds, float(fitted.predictor["intercept"]))
    return FittedModel(spec, fitted.estimator, fitted.signature_estimator)


__all__ = ["RECIPES", "TrainingOptions", "check_cutoff", "describe_dropped", "software_versions", "train_model"]
