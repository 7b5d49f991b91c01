"""Members by model seed: the study's best config retrained with other seeds, as its own trials.

Lightning Pose's recipe for an ensemble is one config trained with several model seeds. The
retrainings are trials of the same study (enqueued with the best trial's params, a
``sweeper.model_seed`` and ``sweeper.seed_of`` attribute, never pruned), run by the same sweep
machinery as any trial, so they are tracked, resumable and reused by the next call.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from optuna.trial import FrozenTrial, TrialState

from sweeper.ensemble.members import MIN_MEMBERS, Member
from sweeper.errors import SweepError
from sweeper.study.storage import open_storage
from sweeper.study.study import (
    ATTR_INPUTS,
    ATTR_MODEL_SEED,
    ATTR_RUN_ID,
    ATTR_SEED_OF,
    best_complete_trial,
    load_existing_study,
)

SEED_PARAM = "training.rng_seed_model_pt"  # the resolved config's key, logged as a run param


def _origin(study: optuna.Study) -> FrozenTrial:
    """The best complete trial, or the trial it retrains when the best is itself a seed."""
    best = best_complete_trial(study)
    if best is None:
        raise SweepError(f"study {study.study_name!r} has no completed trial to retrain yet")
    origin = best.user_attrs.get(ATTR_SEED_OF)
    return best if origin is None else study.trials[int(origin)]


def _own_seed(origin: FrozenTrial, tracking_uri: str) -> int:
    run_id = origin.user_attrs.get(ATTR_RUN_ID)
    try:
        params = MlflowClient(tracking_uri=tracking_uri).get_run(str(run_id)).data.params
    except MlflowException:
        raise SweepError(
            f"MLflow run {run_id} of trial {origin.number} is not in this tracking store; pass "
            "the --tracking-uri the sweep logged to"
        ) from None
    return int(params.get(SEED_PARAM, 0))


def _seed_trials(study: optuna.Study, origin: int) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(ATTR_SEED_OF) == origin]


def _new_seeds(study: optuna.Study, origin: FrozenTrial, own_seed: int, wanted: int) -> list[int]:
    """The model seeds to queue so that ``wanted`` retrainings of ``origin`` are complete, running
    or queued: the next seeds after its own that no retraining has used."""
    others = _seed_trials(study, origin.number)
    live = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    counted = {int(t.user_attrs[ATTR_MODEL_SEED]) for t in others if t.state in live}
    used = {own_seed} | {int(t.user_attrs[ATTR_MODEL_SEED]) for t in others}
    seeds: list[int] = []
    seed = own_seed
    while len(counted) + len(seeds) < wanted:
        while seed in used:
            seed += 1
        used.add(seed)
        seeds.append(seed)
    return seeds


def _sweep_options(study: optuna.Study, storage_url: str, tracking_uri: str, root: Path) -> Any:
    from sweeper.sweep import SweepOptions

    inputs = study.user_attrs.get(ATTR_INPUTS)
    if not isinstance(inputs, dict):
        raise SweepError(
            f"--seeds: study {study.study_name!r} has no record of the base config and spaces it "
            "was swept with (it predates --seeds); run `sweeper run` on it once more, or use --top-k"
        )
    missing = [p for p in [inputs["base_config"], *inputs["spaces"]] if not Path(p).is_file()]
    if missing:
        raise SweepError(
            f"--seeds: {missing[0]} (which study {study.study_name!r} was swept with) is gone; "
            "put it back to train more seeds, or use --top-k"
        )
    return SweepOptions(
        queued_only=True,
        base_config=Path(inputs["base_config"]),
        spaces=[Path(p) for p in inputs["spaces"]],
        n_trials=0,  # set by the caller
        study_name=study.study_name,
        storage=storage_url,
        tracking_uri=tracking_uri,
        experiment=inputs.get("experiment"),
        sampler=inputs["sampler"],
        pruner=inputs["pruner"],
        pruner_startup_trials=int(inputs["pruner_startup_trials"]),
        pruner_warmup_epochs=int(inputs["pruner_warmup_epochs"]),
        overrides=list(inputs["overrides"]),
        metric=inputs["metric"],
        direction=inputs["direction"],
        root=root,
    )


def seed_members(
    study_name: str,
    storage_url: str,
    tracking_uri: str,
    root: Path,
    seeds: int,
    on_tick: Callable[[Any], None] | None = None,
) -> list[Member]:
    """``seeds`` members: the best config's trial and ``seeds - 1`` retrainings of its params with
    other model seeds, trained now where the study does not have them yet (``on_tick`` gets the
    sweep's live view)."""
    if seeds < MIN_MEMBERS:
        raise SweepError(f"--seeds {seeds}: an ensemble needs at least {MIN_MEMBERS} members")
    study = load_existing_study(study_name, open_storage(storage_url, heartbeat_seconds=60))
    origin = _origin(study)
    new_seeds = _new_seeds(study, origin, _own_seed(origin, tracking_uri), seeds - 1)
    unfinished = (TrialState.RUNNING, TrialState.WAITING)
    if new_seeds or any(t.state in unfinished for t in _seed_trials(study, origin.number)):
        from sweeper.sweep import Sweep

        opts = _sweep_options(study, storage_url, tracking_uri, root)
        opts.n_trials = len(study.trials) + len(new_seeds)  # never the limit: queued_only is
        sweep = Sweep(opts)  # checks the inputs and the study's fingerprint before any queueing
        for seed in new_seeds:
            study.enqueue_trial(
                origin.params, user_attrs={ATTR_MODEL_SEED: seed, ATTR_SEED_OF: origin.number}
            )
        sweep.run(on_tick)
        study = load_existing_study(study_name, open_storage(storage_url, heartbeat_seconds=60))
    by_seed: dict[int, FrozenTrial] = {}  # one member per seed, should two calls race
    for t in _seed_trials(study, origin.number):
        if t.state == TrialState.COMPLETE and t.value is not None and t.user_attrs.get(ATTR_RUN_ID):
            by_seed.setdefault(int(t.user_attrs[ATTR_MODEL_SEED]), t)
    trained = [by_seed[seed] for seed in sorted(by_seed)][: seeds - 1]
    if len(trained) < seeds - 1:
        others = [t for t in _seed_trials(study, origin.number) if t.state != TrialState.COMPLETE]
        states = "; ".join(
            f"trial {t.number} {t.state.name.lower()}"
            + (f": {t.user_attrs['reason']}" if t.user_attrs.get("reason") else "")
            for t in others[-3:]
        )
        raise SweepError(
            f"--seeds {seeds}: {len(trained)} of {seeds - 1} retrainings of trial "
            f"{origin.number} completed" + (f" ({states})" if states else "")
        )
    chosen = [origin, *trained]
    return [Member(t.number, str(t.user_attrs[ATTR_RUN_ID]), float(t.value)) for t in chosen]  # type: ignore[arg-type]
