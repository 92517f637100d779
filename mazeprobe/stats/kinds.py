"""The model kinds of an analysis plan: one ModelKind record each, in KIND_REGISTRY.

A kind's record is the one place that says what the kind is: its description, the settings a plan entry
may give (type, default, bounds or choices, help), whether it needs a binary outcome, the function that
fits it (mazeprobe.stats.modelfits), the one that writes it into summary.txt (mazeprobe.stats.summaries),
and the numbers it writes into result.json that resolution rules may read (its Quantities). Everything
else is derived from the records: plan validation and defaults (mazeprobe.stats.plan), fitting
(mazeprobe.stats.fit), the summary (mazeprobe.stats.result), the quantity checks of resolution rules
(mazeprobe.registry.rules.quantities), and the old tables MODEL_KINDS, BINARY_ONLY, MODELS and QUANTITIES.

To add a kind: write `fit_KIND` in modelfits.py and `KIND_summary` in summaries.py, and add its ModelKind
to KIND_REGISTRY below; nothing else changes. Tests parametrised over KIND_REGISTRY then cover it:
test_each_kind_writes_what_its_quantities_declare (tests/test_resolve.py; give slow settings a quick value
in its QUICK) and test_each_setting_of_each_kind_is_defaulted_and_checked (tests/test_stats.py). Its own
numbers want a test like test_rate_model_gives_wilson_intervals_and_fits_a_rate_of_zero.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mazeprobe.settings import KeyedSetting
from mazeprobe.stats.planspec import ModelSpec

if TYPE_CHECKING:
    from mazeprobe.stats.data import AnalysisData
    from mazeprobe.stats.modelfits import ModelResult


@dataclass(frozen=True)
class Owned:
    """A function named by its module, imported on its first call: reading the registry (a plan's
    validation, the rules' quantity checks, `predictions validate`) loads no statsmodels, scikit-learn
    or scipy.stats; fitting does."""

    module: str
    name: str

    def resolve(self) -> Callable[..., Any]:
        """The function itself."""
        return getattr(importlib.import_module(self.module), self.name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)


def _fit(kind: str) -> Owned:
    return Owned("mazeprobe.stats.modelfits", f"fit_{kind}")


def _summary(kind: str) -> Owned:
    return Owned("mazeprobe.stats.summaries", f"{kind}_summary")


Setting = KeyedSetting
"""One key a model entry may give, besides `kind` and `name`: mazeprobe.settings' record, with the default
beside it (a kind's settings are a dict, not dataclass fields): `Setting(float, 1.0, "help", low=0,
bounds="> 0")`. A float setting given as 1 is held (and hashed) as 1.0; for a float, `low` and `high` are
open ends (values must lie strictly between them), for an int `low` is the least value."""


@dataclass(frozen=True)
class Quantities:
    """The numbers a kind writes into its result.json model entry that a resolution rule may name (the
    `quantity` of a question's resolution), checked against what the fit really writes by
    tests/test_resolve.py."""

    model: tuple[str, ...]
    """Model-level keys: `quantity: KEY`."""
    features: tuple[str, ...] | None = None
    """Per-feature keys (`features.NAME.KEY`); None when the kind writes no per-feature numbers."""
    intercept: tuple[str, ...] | None = None
    """The intercept's keys (`intercept.KEY`)."""
    correlation: bool = False
    """Whether it writes the correlation matrix of the features (`correlation.NAME.NAME`)."""
    binary_only: tuple[str, ...] = ()
    """Model-level keys written only for a binary outcome (not for a probability such as p_cheese_at_dsq)."""

    def schema(self) -> dict[str, tuple[str, ...]]:
        """{section: keys}: "model", then those of "features", "intercept", "correlation" that it has."""
        out = {"model": self.model}
        if self.features is not None:
            out["features"] = self.features
        if self.intercept is not None:
            out["intercept"] = self.intercept
        if self.correlation:
            out["correlation"] = ()
        return out


@dataclass(frozen=True)
class ModelKind:
    name: str
    """What `kind:` says in a plan, and ModelResult.kind."""
    description: str
    fit: Callable[[AnalysisData, ModelSpec], ModelResult]
    summary: Callable[[str, ModelResult], list[str]]
    """Lines of summary.txt for a fitted model (given its key); the model's warnings follow them."""
    quantities: Quantities
    settings: dict[str, Setting] = field(default_factory=dict)
    """The keys a plan entry may give, in the order their problems are reported."""
    binary_only: bool = False
    """Refused, when the plan is read, for a probability outcome."""
    defaults_from: str | None = None
    """A kind whose first entry in the same plan supplies the settings this entry leaves out (so that
    single and drop-one score on the same splits as l1-logit); its defaults apply where neither gives one."""
    min_features: int = 1
    """Features the kind needs. The plan already needs one for any kind that reads features, so only a
    larger number is checked per entry."""
    reads_features: bool = True
    """False: the kind describes the outcome alone, and a plan of only such kinds may list no features."""
    needs_both_classes: bool = True
    """Whether a binary outcome must have enough rows of each class (a rate is honest at 0 or 1)."""
    writes_aliased: bool = False
    """Whether its result has `aliased_with` (the kinds that check which coefficients are identified)."""


# --- the settings --------------------------------------------------------------------------------

COV_TYPES = ("auto", "nonrobust", "cluster", "HC0", "HC1", "HC2", "HC3")

DEFAULT_ALPHA = 0.05
"""logit, rate: 1 - confidence level of the intervals (95%)."""
DEFAULT_C = 1.0
DEFAULT_SPLITS = 100
DEFAULT_TEST_SIZE = 0.2
DEFAULT_SUBSETS = 200

_ALPHA = Setting(
    float,
    DEFAULT_ALPHA,
    "1 - confidence level of the intervals, 0 < alpha < 1",
    low=0,
    high=1,
    bounds="between 0 and 1 (0.05 gives 95% intervals)",
)
_CV_SETTINGS = {
    "C": Setting(float, DEFAULT_C, "inverse regularisation strength, > 0", low=0, bounds="> 0"),
    "splits": Setting(int, DEFAULT_SPLITS, "number of random train/test splits, integer >= 1", low=1),
    "test_size": Setting(
        float,
        DEFAULT_TEST_SIZE,
        "fraction of rows in each test split, 0 < test_size < 1",
        low=0,
        high=1,
        bounds="between 0 and 1, e.g. 0.2",
    ),
}
_CV_MODEL = ("C", "splits", "test_size", "n_test")
_LOGIT_TERM = ("coef", "se", "z", "p", "ci_low", "ci_high", "odds_ratio", "or_ci_low", "or_ci_high")


# --- the registry --------------------------------------------------------------------------------

KIND_REGISTRY: dict[str, ModelKind] = {
    k.name: k
    for k in (
        ModelKind(
            "logit",
            "multiple logistic regression (statsmodels; fractional logit for a probability outcome)",
            _fit("logit"),
            _summary("logit"),
            Quantities(
                model=(
                    "n", "n_clusters", "alpha", "pseudo_r2", "llf", "llnull", "aic", "bic", "iterations",
                    "llr_p",
                ),
                features=_LOGIT_TERM,
                intercept=_LOGIT_TERM,
                binary_only=("llr_p",),
            ),
            settings={
                "alpha": _ALPHA,
                "cov_type": Setting(
                    str,
                    "auto",
                    "auto (clustered by maze seed when seeds repeat, else nonrobust; HC0 for a fractional "
                    "logit), or a statsmodels cov_type: nonrobust, cluster, HC0..HC3",
                    choices=COV_TYPES,
                ),
            },
            writes_aliased=True,
        ),
        ModelKind(
            "l1-logit",
            "L1-penalised logistic regression over repeated stratified splits (scikit-learn)",
            _fit("l1_logit"),
            _summary("l1_logit"),
            Quantities(
                model=(
                    "accuracy_mean", "accuracy_sd", "auc_mean", "auc_sd", "baseline_accuracy", "baseline_sd",
                    "accuracy_gain", "intercept_mean", "n", *_CV_MODEL,
                ),
                features=("coef_mean", "coef_sd", "coef_q025", "coef_q975", "zero_rate"),
            ),
            settings=_CV_SETTINGS,
            binary_only=True,
        ),
        ModelKind(
            "single",
            "cross-validated accuracy and AUC of each feature alone",
            _fit("single"),
            _summary("single"),
            Quantities(
                model=("baseline_accuracy", "n", *_CV_MODEL),
                features=(
                    "accuracy_mean", "accuracy_sd", "auc_mean", "auc_sd", "accuracy_gain", "coef_mean",
                ),
            ),
            settings=_CV_SETTINGS,
            binary_only=True,
            defaults_from="l1-logit",
        ),
        ModelKind(
            "drop-one",
            "accuracy and AUC lost when each feature is dropped from the full set",
            _fit("drop_one"),
            _summary("drop_one"),
            Quantities(
                model=("accuracy_mean", "auc_mean", "baseline_accuracy", "n", *_CV_MODEL),
                features=(
                    "accuracy_mean", "auc_mean", "accuracy_loss_mean", "accuracy_loss_sd", "auc_loss_mean",
                    "auc_loss_sd",
                ),
            ),
            settings=_CV_SETTINGS,
            binary_only=True,
            defaults_from="l1-logit",
            min_features=2,
        ),
        ModelKind(
            "sign-stability",
            "how often each coefficient's sign flips over random feature subsets",
            _fit("sign_stability"),
            _summary("sign_stability"),
            Quantities(
                model=("subsets", "distinct_fits", "failed_fits"),
                features=(
                    "full_coef", "flip_rate", "flips", "subsets", "distinct_subsets", "failed",
                    "aliased_dropped", "coef_min", "coef_median", "coef_max",
                ),
            ),
            settings={
                "subsets": Setting(
                    int, DEFAULT_SUBSETS, "random feature subsets per feature, integer >= 1", low=1
                )
            },
            writes_aliased=True,
        ),
        ModelKind(
            "vif",
            "variance inflation factors and the correlation matrix",
            _fit("vif"),
            _summary("vif"),
            Quantities(model=("n",), features=("vif", "max_abs_corr"), correlation=True),
        ),
        ModelKind(
            "rate",
            "the outcome's mean with a 95% interval (Wilson for a binary outcome)",
            _fit("rate"),
            _summary("rate"),
            Quantities(
                model=(
                    "rate", "ci_low", "ci_high", "successes", "n_effective", "design_effect", "alpha", "n",
                    "n_clusters",
                ),
                binary_only=("successes", "n_effective", "design_effect"),
            ),
            settings={"alpha": _ALPHA},
            reads_features=False,
            needs_both_classes=False,
        ),
    )
}  # fmt: skip
"""Every model kind, by name, in the order they are listed in messages."""
