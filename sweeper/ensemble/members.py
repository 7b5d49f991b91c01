"""Choose an ensemble's members from a finished sweep: its K best complete trials."""

from __future__ import annotations

from dataclasses import dataclass

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from sweeper.errors import SweepError
from sweeper.study.study import ATTR_RUN_ID

MIN_MEMBERS = 2


@dataclass(frozen=True)
class Member:
    """A complete trial whose model joins the ensemble."""

    trial_number: int
    run_id: str
    value: float

    @property
    def label(self) -> str:
        return f"trial-{self.trial_number}"


def top_members(study: optuna.Study, k: int) -> list[Member]:
    """The ``k`` best complete trials with an MLflow run, best first."""
    if k < MIN_MEMBERS:
        raise SweepError(f"--top-k {k}: an ensemble needs at least {MIN_MEMBERS} members")
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None and t.user_attrs.get(ATTR_RUN_ID)
    ]
    maximize = study.direction == StudyDirection.MAXIMIZE
    complete.sort(key=lambda t: (-t.value if maximize else t.value, t.number))  # type: ignore[operator]
    if len(complete) < k:
        raise SweepError(
            f"--top-k {k}: study {study.study_name!r} has {len(complete)} complete trial(s) with a "
            "model; run more trials or ask for fewer members"
        )
    return [Member(t.number, str(t.user_attrs[ATTR_RUN_ID]), float(t.value)) for t in complete[:k]]  # type: ignore[arg-type]
