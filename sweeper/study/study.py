"""Open (or resume) an Optuna study and read its state; the objective a study optimizes."""

from __future__ import annotations

import hashlib
import math
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeper.errors import SweepError

ATTR_METRIC = "sweeper.metric"
ATTR_FINGERPRINT = "sweeper.fingerprint"
ATTR_RUN_ID = "mlflow_run_id"
ATTR_REASON = "reason"
# what `sweeper run` was given (base config, spaces, overrides, objective, sampler, pruner), so
# that `sweeper ensemble --seeds` can train more trials of the study without asking again
ATTR_INPUTS = "sweeper.inputs"
# a trial that retrains another's params with another model seed (`sweeper ensemble --seeds`)
ATTR_MODEL_SEED = "sweeper.model_seed"
ATTR_SEED_OF = "sweeper.seed_of"

# per-epoch metric -> the metrics.json value it ends as (measured on the best checkpoint)
_EPOCH_TO_FINAL = {"val/pixel_error": "val_pixel_error", "val/loss": "best_val_loss"}
_FINAL_ONLY = (
    "val_pixel_error",
    "test_pixel_error",
    "train_pixel_error",
    "best_val_loss",
    "train_images_per_second",
    "train_seconds",
)
_EPOCH_ONLY = ("train/loss",)
# metrics.json values a trial's MLflow run logs under another name (nested ones get dotted keys)
_RUN_METRIC = {"train_pixel_error": "pixel_error.train"}


@dataclass(frozen=True)
class Objective:
    """What a trial returns to Optuna, and which per-epoch value it reports for pruning."""

    name: str
    direction: str

    @staticmethod
    def names() -> list[str]:
        return [*_EPOCH_TO_FINAL, *_EPOCH_ONLY, *_FINAL_ONLY]

    @classmethod
    def parse(cls, name: str, direction: str) -> Objective:
        if name not in cls.names():
            raise SweepError(f"--metric {name!r}: expected one of {', '.join(cls.names())}")
        if direction not in ("minimize", "maximize"):
            raise SweepError(f"--direction {direction!r}: expected minimize or maximize")
        return cls(name, direction)

    @property
    def epoch_name(self) -> str | None:
        """The metric reported each validation epoch (None: this objective cannot prune)."""
        return self.name if "/" in self.name else None

    @property
    def run_metric(self) -> str:
        """The metric of a trial's MLflow run that holds the value Optuna got, to rank trials by
        (the per-epoch ``val/pixel_error`` ends at the last epoch's, not the best checkpoint's)."""
        key = _EPOCH_TO_FINAL.get(self.name, self.name)
        return _RUN_METRIC.get(key, key)

    def final(self, metrics: Mapping[str, Any], last_epoch: Mapping[str, float]) -> float | None:
        """The trial's value: the metrics.json figure, or the last epoch's value if there is none."""
        key = _EPOCH_TO_FINAL.get(self.name, self.name)
        value = metrics.get(key)
        if value is None and key == "train_pixel_error":
            value = (metrics.get("pixel_error") or {}).get("train")
        if value is None:
            value = last_epoch.get(self.name)
        if value is None or not math.isfinite(float(value)):
            return None
        return float(value)


def fingerprint(*parts: str) -> str:
    """A short hash of what defines a study (base config, overrides, spaces, objective)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def open_study(
    name: str,
    storage: optuna.storages.BaseStorage,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    objective: Objective,
    study_fingerprint: str,
) -> optuna.Study:
    """Create the study, or resume it if the same base config, spaces and objective made it."""
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction=objective.direction,  # type: ignore[arg-type]
        load_if_exists=True,
    )
    attrs = study.user_attrs
    if (
        study.direction.name.lower() != objective.direction
        or attrs.get(ATTR_METRIC, objective.name) != objective.name
    ):
        raise SweepError(
            f"study {name!r} optimizes {attrs.get(ATTR_METRIC, '?')} "
            f"({study.direction.name.lower()}); pass the same --metric/--direction or a new --study-name"
        )
    if attrs.get(ATTR_FINGERPRINT, study_fingerprint) != study_fingerprint:
        raise SweepError(
            f"study {name!r} was created from a different base config, overrides or search spaces; "
            "rerun with the same ones to resume, or pass a new --study-name"
        )
    if ATTR_METRIC not in attrs:
        study.set_user_attr(ATTR_METRIC, objective.name)
        study.set_user_attr(ATTR_FINGERPRINT, study_fingerprint)
    if study.metric_names != [objective.name]:
        with warnings.catch_warnings():  # experimental in Optuna 4; optuna-dashboard shows the name
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([objective.name])
    return study


def load_existing_study(name: str, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """An existing study, or a one-line error listing the studies that do exist."""
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        known = ", ".join(names) if names else "none"
        raise SweepError(f"no study named {name!r} in this storage (studies: {known})") from None


def best_complete_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best COMPLETE trial (pruned and failed ones never count), or None."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    return study.best_trial


def state_counts(study: optuna.Study) -> Counter[str]:
    """Trials per state name (COMPLETE, PRUNED, FAIL, RUNNING, WAITING), across all workers."""
    return Counter(t.state.name for t in study.get_trials(deepcopy=False))


def finished(counts: Mapping[str, int]) -> int:
    """Trials that count towards ``--n-trials``: complete or pruned."""
    return counts.get(TrialState.COMPLETE.name, 0) + counts.get(TrialState.PRUNED.name, 0)
