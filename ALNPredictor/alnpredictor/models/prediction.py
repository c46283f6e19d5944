"""``Prediction``: one patient's result from a model (what ``FittedModel.predict_case`` returns).

A frozen dataclass with the probability, the class at the cut-off (``predicted_class`` 1/0 and its
``label``, "metastasis" / "no metastasis"), nomogram points per predictor and in total, the
interval of the probability (logistic models), the values the points were read from, and the
warnings. Pathways add what they know about how the inputs were obtained with
:meth:`Prediction.with_context` (mask source, feature provenance, clinical-value warnings) and,
for a nomogram over an imaging signature, the signature's own result (``signature``).

Its stored form is :meth:`Prediction.to_dict` — JSON-safe, the class label under the single key
``"class"`` — and :meth:`Prediction.from_dict` reads it back (also results stored before this type
existed, whose label was under ``"prediction"``). Reports take either form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alnpredictor.errors import InputError
from alnpredictor.jsonsafe import json_safe

#: Class labels by ``predicted_class`` (0, 1).
CLASS_LABELS: tuple[str, str] = ("no metastasis", "metastasis")

#: Keys of the stored form that hold the result itself (context keys must differ).
CORE_KEYS: tuple[str, ...] = (
    "model", "recipe", "probability", "cutoff", "predicted_class", "class", "positive_label", "linear_predictor",
    "points", "total_points", "interval", "warnings", "research_use", "values", "signature",
)
#: Key under which results stored before ``Prediction`` existed held the class label.
LEGACY_CLASS_KEY = "prediction"


@dataclass(frozen=True)
class Interval:
    """Interval of the probability (e.g. Wald on the log-odds scale, back-transformed)."""

    low: float
    high: float
    level: float = 0.95
    method: str = ""

    def to_dict(self) -> dict[str, Any]:
        """``{"level", "low", "high", "method"}``."""
        return {"level": self.level, "low": self.low, "high": self.high, "method": self.method}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Interval:
        """Read back :meth:`to_dict`."""
        try:
            return cls(low=float(data["low"]), high=float(data["high"]), level=float(data.get("level", 0.95)),
                       method=str(data.get("method") or ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"a stored prediction interval needs numeric 'low' and 'high' ({exc})") from None


@dataclass(frozen=True)
class Prediction:
    """One patient's prediction. Treat the mappings it holds as read-only.

    :ivar probability: probability of axillary lymph node metastasis.
    :ivar cutoff: the model's probability cut-off (None for a model without one).
    :ivar predicted_class: 1 = metastasis (probability ≥ cut-off), 0 = no metastasis, None without cut-off.
    :ivar model_name: name of the model that predicted.
    :ivar recipe: the model's recipe.
    :ivar positive_label: the label value the model was trained to predict (e.g. 1 or "R").
    :ivar linear_predictor: log-odds of metastasis.
    :ivar points: nomogram points per predictor (None for models without a points scale).
    :ivar total_points: sum of ``points`` (None without a points scale).
    :ivar interval: interval of the probability (logistic models), or None.
    :ivar values: the values the model used per design column (signature score, encoded clinical
        values), and any values a caller adds for display.
    :ivar warnings: findings such as values outside the training range (dicts with ``code``, ``message``).
    :ivar research_use: the model's research-use statement.
    :ivar signature: the imaging signature's own prediction, when a caller adds it (nomogram over a signature).
    :ivar context: what the caller adds about how the inputs were obtained (mask source, feature
        provenance, clinical-value warnings); stored at the top level of :meth:`to_dict`.
    """

    probability: float
    cutoff: float | None = None
    predicted_class: int | None = None
    model_name: str = ""
    recipe: str = ""
    positive_label: Any = None
    linear_predictor: float | None = None
    points: Mapping[str, float] | None = None
    total_points: float | None = None
    interval: Interval | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[Mapping[str, Any], ...] = ()
    research_use: str | None = None
    signature: Prediction | None = None
    context: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.predicted_class not in (None, 0, 1):
            raise InputError(f"predicted_class must be 0, 1 or None, not {self.predicted_class!r}")
        clash = sorted(set(self.context) & set(CORE_KEYS + (LEGACY_CLASS_KEY,)))
        if clash:
            raise InputError(f"context key(s) {clash} are names of the prediction's own fields")
        object.__setattr__(self, "warnings", tuple(self.warnings))

    @property
    def label(self) -> str | None:
        """The class at the cut-off in words: "metastasis" / "no metastasis" (None without a cut-off)."""
        return None if self.predicted_class is None else CLASS_LABELS[self.predicted_class]

    def with_context(self, **items: Any) -> Prediction:
        """A copy with ``items`` added to :attr:`context` (e.g. ``mask_source="grow-cut"``)."""
        return dataclasses.replace(self, context={**self.context, **items})

    def to_dict(self) -> dict[str, Any]:
        """The stored form: JSON-safe, the class label under ``"class"``, context keys at the top level.

        ``signature`` appears only when set; NaN/inf become None.
        """
        out: dict[str, Any] = {
            "model": self.model_name,
            "recipe": self.recipe,
            "probability": self.probability,
            "cutoff": self.cutoff,
            "predicted_class": self.predicted_class,
            "class": self.label,
            "positive_label": self.positive_label,
            "linear_predictor": self.linear_predictor,
            "points": None if self.points is None else dict(self.points),
            "total_points": self.total_points,
            "interval": None if self.interval is None else self.interval.to_dict(),
            "warnings": [dict(w) for w in self.warnings],
            "research_use": self.research_use,
            "values": dict(self.values),
        }
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
        out.update(self.context)
        return json_safe(out)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prediction:
        """Read back :meth:`to_dict` (or a result stored with the class label under ``"prediction"``).

        Keys other than the prediction's own become :attr:`context`.
        """
        if isinstance(data, Prediction):
            return data
        if not isinstance(data, Mapping) or data.get("probability") is None:
            raise InputError("a stored prediction needs at least its 'probability'")
        predicted = data.get("predicted_class")
        label = data.get("class", data.get(LEGACY_CLASS_KEY))
        if predicted is None and label is not None:
            if label not in CLASS_LABELS:
                raise InputError(f"stored class {label!r} is not one of {list(CLASS_LABELS)}")
            predicted = CLASS_LABELS.index(label)
        interval = data.get("interval")
        signature = data.get("signature")
        points = data.get("points")
        return cls(
            probability=float(data["probability"]),
            cutoff=_float_or_none(data.get("cutoff")),
            predicted_class=None if predicted is None else int(predicted),
            model_name=str(data.get("model") or ""),
            recipe=str(data.get("recipe") or ""),
            positive_label=data.get("positive_label"),
            linear_predictor=_float_or_none(data.get("linear_predictor")),
            points=None if points is None else dict(points),
            total_points=_float_or_none(data.get("total_points")),
            interval=Interval.from_dict(interval) if isinstance(interval, Mapping) else None,
            values=dict(data.get("values") or {}),
            warnings=tuple(dict(w) for w in (data.get("warnings") or ())),
            research_use=data.get("research_use"),
            signature=cls.from_dict(signature) if isinstance(signature, Mapping) else None,
            context={k: v for k, v in data.items() if k not in CORE_KEYS and k != LEGACY_CLASS_KEY},
        )


def prediction_dict(prediction: Prediction | Mapping[str, Any]) -> dict[str, Any]:
    """The stored (JSON-safe) form of a Prediction or of an already stored result.

    A stored result is kept as it is, except that a class label stored under the legacy key
    ``"prediction"`` moves to ``"class"``; it need not be complete (a report shows what it has).
    """
    if isinstance(prediction, Prediction):
        return prediction.to_dict()
    if not isinstance(prediction, Mapping):
        raise InputError(f"a prediction is a Prediction or its dict form, not {type(prediction).__name__}")
    out = json_safe(dict(prediction))
    legacy = out.pop(LEGACY_CLASS_KEY, None)
    if out.get("class") is None and legacy is not None:
        out["class"] = legacy
    return out


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


__all__ = ["CLASS_LABELS", "Interval", "Prediction", "prediction_dict"]
