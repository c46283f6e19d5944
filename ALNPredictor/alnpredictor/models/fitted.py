"""``FittedModel``: one trained (or imported) model, whatever the recipe.

A model is described by a JSON-able ``spec`` (what ``model.json`` holds) plus, for the SVM
recipes, a fitted scikit-learn pipeline. Linear models (LASSO signature, published signature,
nomogram) are plain numbers in the spec. The same object predicts for a cohort
(``predict_proba``), for one patient (``predict_case`` → :class:`~alnpredictor.models.prediction.Prediction`:
probability, class at the cut-off, nomogram points, interval), and describes itself (``card``,
whose description comes from the recipe registry).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import norm

from alnpredictor.errors import InputError, ModelBundleError
from alnpredictor.models import nomogram as nomo
from alnpredictor.models.design import encode_clinical, numeric_block
from alnpredictor.models.prediction import Interval, Prediction
from alnpredictor.stats.checks import case_out_of_range

SCHEMA = "alnpredictor.model"
SCHEMA_VERSION = 1

INTENDED_USE = (
    "Estimate, before surgery, the probability of axillary lymph node metastasis in a patient with "
    "breast cancer from imaging features (breast MRI or ultrasound) and routine clinical data, in the "
    "population and with the acquisition and feature-extraction settings of the training cohort."
)
RESEARCH_USE = (
    "Research use only. Not a medical device; not validated for diagnostic or treatment decisions. "
    "Predictions must not replace sentinel lymph node biopsy or clinical judgement."
)

_EPS = 1e-15


class FittedModel:
    """A trained model: prediction for cohorts and single cases, and its model card."""

    def __init__(self, spec: dict, estimator: Any | None = None, signature_estimator: Any | None = None) -> None:
        self.spec = spec
        self.estimator = estimator
        #: fitted pipeline of a non-linear signature used as a nomogram predictor (None otherwise)
        self.signature_estimator = signature_estimator
        sig = spec.get("signature") or {}
        if sig.get("kind") == "sklearn":
            if signature_estimator is None:
                raise ModelBundleError(f"model {self.name!r}: the estimator of its signature is missing")
            if getattr(signature_estimator, "n_features_in_", len(sig["features"])) != len(sig["features"]):
                raise ModelBundleError(f"model {self.name!r}: the signature estimator does not match its "
                                       "feature list; the bundle is inconsistent")
        kind = spec.get("predictor", {}).get("kind")
        if kind == "sklearn" and estimator is None:
            raise ModelBundleError(f"model {self.name!r}: its fitted estimator is missing")
        if kind not in ("sklearn", "linear"):
            raise ModelBundleError(f"model {self.name!r}: unknown predictor kind {kind!r}")
        n_design = len(self.design_columns)
        if kind == "linear" and len(spec["predictor"]["coefficients"]) != n_design:
            raise ModelBundleError(
                f"model {self.name!r}: {len(spec['predictor']['coefficients'])} coefficients for "
                f"{n_design} predictors; the bundle is inconsistent")
        if kind == "sklearn" and getattr(estimator, "n_features_in_", n_design) != n_design:
            raise ModelBundleError(
                f"model {self.name!r}: the estimator expects {estimator.n_features_in_} features but the "
                f"bundle lists {n_design}; the bundle is inconsistent")

    # --- description -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.spec.get("name", "model"))

    @property
    def recipe(self) -> str:
        return str(self.spec.get("recipe"))

    @property
    def features(self) -> list[str]:
        """Feature columns the model reads (in order)."""
        return list(self.spec["inputs"]["features"])

    @property
    def clinical_fields(self) -> list[dict]:
        """Clinical fields (name, type, values or min/max, required) — enough to build a form."""
        return [dict(f) for f in self.spec["inputs"].get("clinical", [])]

    @property
    def required_columns(self) -> list[str]:
        return self.features + [f["name"] for f in self.clinical_fields]

    @property
    def design_columns(self) -> list[str]:
        return list(self.spec["design"])

    @property
    def cutoff(self) -> float | None:
        c = self.spec.get("cutoff")
        return None if not c else c.get("value")

    @property
    def is_linear(self) -> bool:
        return self.spec["predictor"]["kind"] == "linear"

    @property
    def feature_stats(self) -> dict[str, dict]:
        return dict(self.spec.get("feature_stats") or {})

    @property
    def training_prevalence(self) -> float | None:
        tr = self.spec.get("training") or {}
        return tr.get("prevalence")

    @property
    def card(self) -> dict:
        """The model card: what the model is, how it was trained and how it performed."""
        from alnpredictor.models.recipes import recipe_description

        s = self.spec
        card = {
            "name": self.name,
            "recipe": self.recipe,
            "description": recipe_description(self.recipe),
            "created": s.get("created"),
            "intended_use": s.get("intended_use", INTENDED_USE),
            "research_use": s.get("research_use", RESEARCH_USE),
            "label": s.get("label"),
            "training": s.get("training"),
            "metrics": s.get("metrics"),
            "cutoff": s.get("cutoff"),
            "features": self.features,
            "n_features": len(self.features),
            "clinical_fields": self.clinical_fields,
            "signature": s.get("signature"),
            "predictors_table": (s.get("details") or {}).get("table"),
            "details": {k: v for k, v in (s.get("details") or {}).items() if k not in ("table", "cv")},
            "feature_stats": s.get("feature_stats"),
            "software": s.get("software"),
            "limitations": [
                "Performance is the apparent (training-cohort) performance unless stated; external validation "
                "is needed before use in another centre.",
                "Features must be extracted with the same imaging protocol and extraction settings as training.",
            ],
        }
        if self.is_linear:
            card["coefficients"] = dict(zip(self.design_columns, s["predictor"]["coefficients"]))
            card["intercept"] = s["predictor"]["intercept"]
        return card

    # --- prediction --------------------------------------------------------------------------
    def check_columns(self, table: pd.DataFrame) -> None:
        """Refuse an input table that lacks columns the model needs."""
        missing = [c for c in self.required_columns if c not in table.columns]
        if missing:
            raise ModelBundleError(
                f"model {self.name!r} needs {len(missing)} column(s) the input table lacks: {missing[:8]}"
                f"{' …' if len(missing) > 8 else ''}. The table must come from the same feature extraction "
                "(same names) and include the clinical fields the model was trained with.")

    def incomplete_rows(self, table: pd.DataFrame) -> np.ndarray:
        """Boolean mask of cases lacking a value the model needs."""
        self.check_columns(table)
        return table[self.required_columns].isna().any(axis=1).to_numpy()

    def design_matrix(self, table: pd.DataFrame) -> np.ndarray:
        """The model matrix (signature score or features, then encoded clinical fields)."""
        self.check_columns(table)
        raw = numeric_block(table, self.features)
        if np.isnan(raw).any():
            bad = [c for c, m in zip(self.features, np.isnan(raw).any(axis=0)) if m]
            raise InputError(
                f"{int(np.isnan(raw).any(axis=1).sum())} case(s) lack values for {bad[:5]}; fill them in or "
                "drop those cases (validate() leaves them out with a missing_features warning)")
        sig = self.spec.get("signature")
        if sig and sig.get("kind") == "sklearn":  # non-linear signature: its log-odds is the predictor
            prob = self.signature_estimator.predict_proba(raw)[:, 1]
            block = logit(np.clip(prob, _EPS, 1 - _EPS))[:, None]
        elif sig:
            block = (raw @ np.asarray(sig["coefficients"], float) + float(sig.get("intercept") or 0.0))[:, None]
        else:
            block = raw
        return np.hstack([block, encode_clinical(table, self.clinical_fields)])

    def _scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probability, log-odds) from a model matrix."""
        if self.is_linear:
            pred = self.spec["predictor"]
            lp = x @ np.asarray(pred["coefficients"], float) + float(pred["intercept"])
            return expit(lp), lp
        prob = self.estimator.predict_proba(x)[:, 1]
        return prob, logit(np.clip(prob, _EPS, 1 - _EPS))

    def decision_function(self, table: pd.DataFrame) -> np.ndarray:
        """Log-odds of metastasis (the linear predictor for linear models)."""
        return self._scores(self.design_matrix(table))[1]

    def predict_proba(self, table: pd.DataFrame) -> np.ndarray:
        """Probability of metastasis per case (1-D array)."""
        return self._scores(self.design_matrix(table))[0]

    def predict(self, table: pd.DataFrame, cutoff: float | None = None) -> np.ndarray:
        """1 = metastasis (probability ≥ cut-off), 0 = no metastasis."""
        cut = self.cutoff if cutoff is None else cutoff
        if cut is None:
            raise InputError(f"model {self.name!r} has no stored cut-off; pass one")
        return (self.predict_proba(table) >= cut).astype(int)

    def points(self, table: pd.DataFrame) -> list[dict[str, float]] | None:
        """Nomogram points per predictor for each case (None when the model has no points scale)."""
        return self._points(self.design_matrix(table))

    def _points(self, x: np.ndarray) -> list[dict[str, float]] | None:
        pts = self.spec.get("points")
        if not pts:
            return None
        return [nomo.points_for(pts, dict(zip(self.design_columns, row))) for row in x]

    def predict_case(self, row: Mapping[str, Any] | pd.DataFrame, level: float = 0.95) -> Prediction:
        """One patient: probability, class at the cut-off, points per predictor, total points,
        interval of the probability (logistic models), the values used, and warnings.

        :param row: ``{column: value}`` or a one-row table with the model's feature and clinical columns.
        :param level: level of the interval (logistic models with a covariance matrix).
        """
        if isinstance(row, pd.DataFrame):
            if len(row) != 1:
                raise InputError(f"predict_case takes one case; got {len(row)} rows (use predict_proba)")
            table = row.reset_index(drop=True)
        elif isinstance(row, Mapping):
            table = pd.DataFrame([dict(row)])
        else:
            raise InputError("predict_case takes a mapping of column -> value or a one-row table")
        self.check_columns(table)
        table = table[self.required_columns]
        missing = [c for c in self.required_columns if pd.isna(table[c].iloc[0])]
        if missing:
            raise InputError(f"the case lacks value(s) for {missing[:8]}; the model needs them")
        xm = self.design_matrix(table)
        x = xm[0]
        probs, lps = self._scores(xm)
        prob, lp = float(probs[0]), float(lps[0])
        pts = self._points(xm)
        interval = None
        cov = self.spec["predictor"].get("covariance")
        if cov is not None:
            xt = np.concatenate([[1.0], x])
            se = float(np.sqrt(max(xt @ np.asarray(cov, float) @ xt, 0.0)))
            z = norm.ppf(0.5 + level / 2.0)
            interval = Interval(low=float(expit(lp - z * se)), high=float(expit(lp + z * se)), level=level,
                                method="Wald interval on the log-odds scale")
        values = {c: float(pd.to_numeric(table[c], errors="coerce").iloc[0])
                  for c in table.columns if c in self.feature_stats}
        finding = case_out_of_range(self.feature_stats, values)
        return Prediction(
            probability=prob,
            cutoff=self.cutoff,
            predicted_class=None if self.cutoff is None else int(prob >= self.cutoff),
            model_name=self.name,
            recipe=self.recipe,
            positive_label=(self.spec.get("label") or {}).get("positive"),
            linear_predictor=lp,
            points=None if pts is None else pts[0],
            total_points=None if pts is None else float(sum(pts[0].values())),
            interval=interval,
            # what each predictor's points are read from: the signature score, the encoded clinical values
            values={name: float(v) for name, v in zip(self.design_columns, x)},
            warnings=(finding.to_dict(),) if finding else (),
            research_use=self.spec.get("research_use", RESEARCH_USE),
        )
