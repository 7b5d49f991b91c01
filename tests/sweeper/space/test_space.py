"""Search spaces: parsing space files, checking them against the base config, sampling and grids."""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest

from pose.config import build_config, read_config_file
from pose.errors import ConfigError
from sweeper.errors import SweepError
from sweeper.space import (
    Condition,
    SearchSpace,
    apply_values,
    load_space,
    parse_param,
    value_label,
)

LR = "training.optimizer_params.learning_rate"
LOSS = "model.heatmap_loss_type"
DIMS = "data.image_resize_dims"
MILESTONES = "training.lr_scheduler_params.multisteplr.milestones"
GAMMA = "training.lr_scheduler_params.multisteplr.gamma"


@pytest.fixture(autouse=True)
def _quiet_optuna() -> Iterator[None]:
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


@pytest.fixture
def base_raw(synthetic_dir: Path) -> dict[str, Any]:
    """The synthetic data set's config as written: resnet18, mse loss, 128x128, max_epochs 40."""
    return read_config_file(synthetic_dir / "config.yaml")


def _write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _load(
    tmp_path: Path, base_raw: dict[str, Any], text: str, overrides: Sequence[str] = ()
) -> SearchSpace:
    return load_space([_write(tmp_path, text)], base_raw, overrides)


def _refused(tmp_path: Path, base_raw: dict[str, Any], text: str) -> tuple[Path, str]:
    path = _write(tmp_path, text)
    with pytest.raises(SweepError) as info:
        load_space([path], base_raw)
    return path, str(info.value)


def _trials(
    space: SearchSpace, n: int, seed: int = 0
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``n`` ask/tell rounds: (values from ``space.sample``, the trial's Optuna params) each."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        values = space.sample(trial)
        out.append((values, dict(trial.params)))
        study.tell(trial, 0.0)
    return out


# ---------------------------------------------------------------------------------------------
# value labels and parse_param
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("resnet18", "resnet18"),
        ({"width": 64, "height": 64}, "{height: 64, width: 64}"),
        ({"a": {"b": 1}}, "{a: {b: 1}}"),
        ([], "[]"),
        (["temporal"], "[temporal]"),
        ([1, [2, 3]], "[1, [2, 3]]"),
        (None, "null"),
        (True, "true"),
        (3, "3"),
        (0.001, "0.001"),
    ],
)
def test_value_label_is_one_line_yaml(value: Any, label: str) -> None:
    assert value_label(value) == label


@pytest.mark.parametrize(
    ("spec", "kind", "low", "high", "step", "log"),
    [
        ({"low": 1, "high": 5}, "int", 1, 5, None, False),
        ({"low": 8, "high": 32, "step": 8}, "int", 8, 32, 8, False),
        ({"low": 1, "high": 64, "log": True}, "int", 1, 64, None, True),
        ({"low": 1, "high": 5.0}, "float", 1, 5.0, None, False),
        ({"low": 0, "high": 1, "step": 0.25}, "float", 0, 1, 0.25, False),
        ({"low": 1.0e-4, "high": 1.0e-2, "log": True}, "float", 1e-4, 1e-2, None, True),
    ],
)
def test_parse_numeric_kind(
    spec: dict, kind: str, low: float, high: float, step: float | None, log: bool
) -> None:
    param = parse_param("training.train_batch_size", spec, "s.yaml")
    assert (param.kind, param.low, param.high, param.step, param.log) == (
        kind,
        low,
        high,
        step,
        log,
    )
    assert param.key == "training.train_batch_size"
    assert param.source == "s.yaml"
    assert param.when == ()
    assert param.candidate_values() == [low, high]


def test_parse_categorical_keeps_yaml_values() -> None:
    choices = [{"height": 64, "width": 64}, {"height": 128, "width": 128}]
    param = parse_param(DIMS, {"choices": choices}, "s.yaml")
    assert param.kind == "categorical"
    assert param.choices == tuple(choices)
    assert param.candidate_values() == choices
    assert param.labels == ["{height: 64, width: 64}", "{height: 128, width: 128}"]
    scalar = parse_param("training.train_batch_size", {"choices": [8, 16]}, "s.yaml")
    assert scalar.labels == [8, 16]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ({LOSS: "kl"}, Condition(LOSS, "equals", "kl")),
        ({LOSS: {"equals": "kl"}}, Condition(LOSS, "equals", "kl")),
        ({LOSS: {"in": ["kl", "js"]}}, Condition(LOSS, "in", ["kl", "js"])),
        (
            {"model.losses_to_use": {"contains": "temporal"}},
            Condition("model.losses_to_use", "contains", "temporal"),
        ),
        ({DIMS: {"equals": {"height": 64}}}, Condition(DIMS, "equals", {"height": 64})),
    ],
)
def test_parse_when_forms(when: dict, expected: Condition) -> None:
    param = parse_param(LR, {"low": 1.0e-4, "high": 1.0e-2, "when": when}, "s.yaml")
    assert param.when == (expected,)


def test_condition_holds_and_describe() -> None:
    equals = Condition(LOSS, "equals", "kl")
    assert equals.holds("kl") and not equals.holds("mse") and not equals.holds(None)
    within = Condition(LOSS, "in", ["kl", "js"])
    assert within.holds("js") and not within.holds("mse")
    contains = Condition("model.losses_to_use", "contains", "temporal")
    assert contains.holds(["temporal"]) and contains.holds(("pca_singleview", "temporal"))
    assert not contains.holds([]) and not contains.holds("temporal") and not contains.holds(None)
    dims = Condition(DIMS, "equals", {"height": 64, "width": 64})
    assert dims.holds({"width": 64, "height": 64}) and not dims.holds({"height": 64})
    assert equals.describe() == f"{LOSS} equals kl"
    assert within.describe() == f"{LOSS} in [kl, js]"
    assert dims.describe() == f"{DIMS} equals {{height: 64, width: 64}}"


# ---------------------------------------------------------------------------------------------
# sampling: one space of every kind, loaded and sampled once for the module
# ---------------------------------------------------------------------------------------------

SIZES = [{"height": 64, "width": 64}, {"height": 128, "width": 128}, {"height": 256, "width": 256}]
PCA_WEIGHT = "losses.pca_multiview.log_weight"
TEMPORAL_WEIGHT = "losses.temporal.log_weight"
VAL_BATCH = "training.val_batch_size"

MIXED_SPACE = f"""
{DIMS}: {{choices: [{{height: 64, width: 64}}, {{height: 128, width: 128}}, {{height: 256, width: 256}}]}}
{MILESTONES}: {{choices: [[25, 35], [10, 20, 30]]}}
model.backbone: {{choices: [resnet18, resnet50]}}
{PCA_WEIGHT}:                 # written before the param it depends on
  low: 0.0
  high: 2.0
  when: {{{LOSS}: kl}}
{LOSS}: {{choices: [mse, kl]}}
{LR}: {{low: 1.0e-4, high: 1.0e-2, log: true}}
training.train_batch_size: {{low: 8, high: 32, step: 8}}
training.test_batch_size: {{low: 1, high: 64, log: true}}
{GAMMA}: {{low: 0.1, high: 0.5, step: 0.1}}
{TEMPORAL_WEIGHT}:
  low: 0.0
  high: 2.0
  when: {{{MILESTONES}: {{contains: 10}}}}
{VAL_BATCH}:
  choices: [32, 64]
  when: {{{DIMS}: {{in: [{{height: 64, width: 64}}, {{height: 128, width: 128}}]}}}}
"""

Samples = list[tuple[dict[str, Any], dict[str, Any]]]


@pytest.fixture(scope="module")
def mixed(
    synthetic_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SearchSpace, Samples]:
    """MIXED_SPACE loaded against the synthetic config, and 100 random trials of it."""
    path = tmp_path_factory.mktemp("mixed") / "space.yaml"
    path.write_text(MIXED_SPACE)
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        space = load_space([path], read_config_file(synthetic_dir / "config.yaml"))
        return space, _trials(space, 100)
    finally:
        optuna.logging.set_verbosity(level)


def test_mixed_space_kinds(mixed: tuple[SearchSpace, Samples]) -> None:
    space, _ = mixed
    kinds = {p.key: (p.kind, p.log, p.step) for p in space.params}
    assert kinds == {
        DIMS: ("categorical", False, None),
        MILESTONES: ("categorical", False, None),
        "model.backbone": ("categorical", False, None),
        PCA_WEIGHT: ("float", False, None),
        LOSS: ("categorical", False, None),
        LR: ("float", True, None),
        "training.train_batch_size": ("int", False, 8),
        "training.test_batch_size": ("int", True, None),
        GAMMA: ("float", False, 0.1),
        TEMPORAL_WEIGHT: ("float", False, None),
        VAL_BATCH: ("categorical", False, None),
    }


def test_choices_of_dicts_sample_back_to_dicts(mixed: tuple[SearchSpace, Samples]) -> None:
    space, samples = mixed
    [param] = [p for p in space.params if p.key == DIMS]
    assert param.choices == tuple(SIZES)
    assert param.labels == [
        "{height: 64, width: 64}",
        "{height: 128, width: 128}",
        "{height: 256, width: 256}",
    ]
    seen = set()
    for values, params in samples:
        dims = values[DIMS]
        assert isinstance(dims, dict) and dims in SIZES
        label = f"{{height: {dims['height']}, width: {dims['width']}}}"
        assert params[DIMS] == label
        assert space.labels(values)[DIMS] == label
        seen.add(label)
    assert seen == set(param.labels)


def test_list_choices_sample_back_to_lists(mixed: tuple[SearchSpace, Samples]) -> None:
    space, samples = mixed
    [param] = [p for p in space.params if p.key == MILESTONES]
    assert param.labels == ["[25, 35]", "[10, 20, 30]"]
    seen = set()
    for values, params in samples:
        assert values[MILESTONES] in ([25, 35], [10, 20, 30])
        assert params[MILESTONES] == space.labels(values)[MILESTONES]
        assert params[MILESTONES] == value_label(values[MILESTONES])
        seen.add(params[MILESTONES])
    assert seen == {"[25, 35]", "[10, 20, 30]"}


def test_scalar_choices_are_passed_to_optuna_as_is(mixed: tuple[SearchSpace, Samples]) -> None:
    space, samples = mixed
    seen = set()
    for values, params in samples:
        for key in ("model.backbone", LOSS):
            assert params[key] == values[key]
            assert space.labels(values)[key] == values[key]
        if VAL_BATCH in values:
            assert type(values[VAL_BATCH]) is int and params[VAL_BATCH] == values[VAL_BATCH]
            assert space.labels(values)[VAL_BATCH] == str(values[VAL_BATCH])
        seen.add((values["model.backbone"], values[LOSS]))
    assert seen == set(itertools.product(["resnet18", "resnet50"], ["mse", "kl"]))


def test_numbers_are_optuna_params_unchanged(mixed: tuple[SearchSpace, Samples]) -> None:
    space, samples = mixed
    for values, params in samples:
        for key in (LR, "training.train_batch_size", "training.test_batch_size", GAMMA):
            assert params[key] == values[key]
            assert space.labels(values)[key] == value_label(values[key])


def test_float_log_range_stays_in_bounds(mixed: tuple[SearchSpace, Samples]) -> None:
    _, samples = mixed
    lrs = [values[LR] for values, _ in samples]
    assert all(isinstance(v, float) and 1e-4 <= v <= 1e-2 for v in lrs)
    # log-uniform: about half of the draws fall in each decade
    assert 30 <= sum(v < 1e-3 for v in lrs) <= 70
    assert min(lrs) < 3e-4 and max(lrs) > 3e-3


def test_int_range_with_step_stays_on_grid(mixed: tuple[SearchSpace, Samples]) -> None:
    _, samples = mixed
    sizes = [values["training.train_batch_size"] for values, _ in samples]
    assert all(type(v) is int for v in sizes)
    assert set(sizes) == {8, 16, 24, 32}


def test_int_log_range_stays_in_bounds(mixed: tuple[SearchSpace, Samples]) -> None:
    _, samples = mixed
    sizes = [values["training.test_batch_size"] for values, _ in samples]
    assert all(type(v) is int and 1 <= v <= 64 for v in sizes)
    assert len(set(sizes)) > 10
    assert sum(v <= 8 for v in sizes) > 30  # log scale: small values are as likely as large


def test_float_range_with_step_stays_on_grid(mixed: tuple[SearchSpace, Samples]) -> None:
    _, samples = mixed
    gammas = [values[GAMMA] for values, _ in samples]
    grid = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert all(isinstance(v, float) and any(math.isclose(v, g) for g in grid) for v in gammas)
    assert len({round(v, 9) for v in gammas}) == 5


def test_sampled_configs_build(mixed: tuple[SearchSpace, Samples]) -> None:
    """One trial per image size: the sampled values land in a valid config; the rest is the base."""
    space, samples = mixed
    by_size = {values[DIMS]["height"]: values for values, _ in samples}
    assert sorted(by_size) == [64, 128, 256]
    for values in by_size.values():
        cfg = build_config(apply_values(space.base_raw, values))
        assert {
            "height": cfg.data.image_resize_dims.height,
            "width": cfg.data.image_resize_dims.width,
        } == values[DIMS]
        assert cfg.training.lr_scheduler_params.multisteplr.milestones == values[MILESTONES]
        assert cfg.model.backbone == values["model.backbone"]
        assert cfg.model.heatmap_loss_type == values[LOSS]
        assert cfg.training.optimizer_params.learning_rate == values[LR]
        assert cfg.training.train_batch_size == values["training.train_batch_size"]
        assert cfg.training.test_batch_size == values["training.test_batch_size"]
        assert cfg.training.val_batch_size == values.get(VAL_BATCH, 32)  # 32 in the base
        assert cfg.model.model_name == "synthetic-example"  # not in the space


# ---------------------------------------------------------------------------------------------
# conditions
# ---------------------------------------------------------------------------------------------


def test_when_equals_activates_param_only_on_that_value(
    mixed: tuple[SearchSpace, Samples],
) -> None:
    _, samples = mixed
    active = inactive = 0
    for values, params in samples:
        if values[LOSS] == "kl":
            active += 1
            assert 0.0 <= values[PCA_WEIGHT] <= 2.0
            assert params[PCA_WEIGHT] == values[PCA_WEIGHT]
        else:
            inactive += 1
            assert PCA_WEIGHT not in values and PCA_WEIGHT not in params
    assert active > 20 and inactive > 20


def test_when_contains_on_list_valued_choice(mixed: tuple[SearchSpace, Samples]) -> None:
    _, samples = mixed
    active = inactive = 0
    for values, params in samples:
        if 10 in values[MILESTONES]:
            active += 1
            assert 0.0 <= values[TEMPORAL_WEIGHT] <= 2.0
            assert params[TEMPORAL_WEIGHT] == values[TEMPORAL_WEIGHT]
        else:
            inactive += 1
            assert values[MILESTONES] == [25, 35]
            assert TEMPORAL_WEIGHT not in values and TEMPORAL_WEIGHT not in params
    assert active > 20 and inactive > 20


def test_when_in_on_dict_valued_choice(mixed: tuple[SearchSpace, Samples]) -> None:
    _, samples = mixed
    active = inactive = 0
    for values, params in samples:
        if values[DIMS]["height"] in (64, 128):
            active += 1
            assert values[VAL_BATCH] in (32, 64) and params[VAL_BATCH] == values[VAL_BATCH]
        else:
            inactive += 1
            assert VAL_BATCH not in values and VAL_BATCH not in params
    assert active > 20 and inactive > 10


def test_conditional_params_come_after_their_reference(
    mixed: tuple[SearchSpace, Samples],
) -> None:
    space, _ = mixed
    order = [p.key for p in space.params]
    assert order.index(LOSS) < order.index(PCA_WEIGHT)
    assert order.index(MILESTONES) < order.index(TEMPORAL_WEIGHT)
    assert order.index(DIMS) < order.index(VAL_BATCH)
    # params without conditions keep the order of the file
    assert [k for k in order if k not in (PCA_WEIGHT, TEMPORAL_WEIGHT, VAL_BATCH)] == [
        DIMS,
        MILESTONES,
        "model.backbone",
        LOSS,
        LR,
        "training.train_batch_size",
        "training.test_batch_size",
        GAMMA,
    ]


# (target key, its 'when' on a base-config key): each target is a one-value choice
BASE_CONDITIONS = [
    (LR, "{model.backbone: resnet18}"),
    (GAMMA, "{model.backbone: resnet50}"),
    ("losses.temporal.log_weight", "{model.backbone: {in: [resnet50, resnet18]}}"),
    ("losses.pca_singleview.log_weight", f"{{{MILESTONES}: {{contains: 33}}}}"),
    ("losses.pca_multiview.log_weight", f"{{{LOSS}: kl}}"),
    ("losses.temporal.prob_threshold", f"{{{LOSS}: {{equals: mse}}}}"),
    # a key the config file leaves out reads its schema default
    ("eval.confidence_thresh_for_vid", "{training.precision: auto}"),
]


@pytest.mark.parametrize(
    ("overrides", "active"),
    [
        (
            (),
            {
                LR,
                "losses.temporal.log_weight",
                "losses.pca_singleview.log_weight",
                "losses.temporal.prob_threshold",
                "eval.confidence_thresh_for_vid",
            },
        ),
        (
            (f"{MILESTONES}=[10]", f"{LOSS}=kl", "model.backbone=resnet50"),
            {
                GAMMA,
                "losses.temporal.log_weight",
                "losses.pca_multiview.log_weight",
                "eval.confidence_thresh_for_vid",
            },
        ),
    ],
    ids=["base", "overridden-base"],
)
def test_when_on_base_config_key(
    tmp_path: Path, base_raw: dict, overrides: tuple[str, ...], active: set[str]
) -> None:
    text = "".join(f"{key}: {{choices: [0.5], when: {when}}}\n" for key, when in BASE_CONDITIONS)
    space = _load(tmp_path, base_raw, text, overrides)
    for values, params in _trials(space, 3):
        assert values == params == dict.fromkeys(active, 0.5)


def test_condition_on_inactive_param_sees_no_value(tmp_path: Path, base_raw: dict) -> None:
    """An inactive param holds no value: its condition reads None, not the base config's value."""
    space = _load(
        tmp_path,
        base_raw,
        f"""
{LOSS}:
  choices: [mse, kl]
  when: {{model.backbone: resnet50}}   # base is resnet18: never active
{LR}:
  choices: [0.002]
  when: {{{LOSS}: mse}}                 # the base value is mse, but the param above is inactive
training.train_batch_size:
  choices: [8]
  when: {{{LOSS}: {{equals: null}}}}
""",
    )
    for values, params in _trials(space, 10):
        assert set(values) == set(params) == {"training.train_batch_size"}


def test_sampling_order_puts_referenced_params_first(tmp_path: Path, base_raw: dict) -> None:
    space = _load(
        tmp_path,
        base_raw,
        f"""
{LR}:
  low: 1.0e-4
  high: 1.0e-2
  when: {{{LOSS}: kl}}
{LOSS}:
  choices: [mse, kl]
  when: {{model.backbone: resnet50}}
training.train_batch_size: {{choices: [8, 16]}}
model.backbone: {{choices: [resnet18, resnet50]}}
""",
    )
    order = [p.key for p in space.params]
    assert order == ["model.backbone", LOSS, LR, "training.train_batch_size"]
    seen_lr = False
    for values, _ in _trials(space, 60):
        assert (LOSS in values) is (values["model.backbone"] == "resnet50")
        assert (LR in values) is (values.get(LOSS) == "kl")
        seen_lr |= LR in values
    assert seen_lr


@pytest.mark.parametrize(
    "text",
    [
        f"""
{LOSS}: {{choices: [kl], when: {{model.backbone: resnet18}}}}
training.train_batch_size: {{choices: [8]}}
model.backbone: {{choices: [resnet50], when: {{{LOSS}: mse}}}}
""",
        f"{LOSS}: {{choices: [kl], when: {{{LOSS}: mse}}}}\n",
    ],
    ids=["two-params", "self"],
)
def test_when_cycle_is_refused(tmp_path: Path, base_raw: dict, text: str) -> None:
    path, message = _refused(tmp_path, base_raw, text)
    assert message == f"{path}: {LOSS}: 'when' conditions form a cycle"


# ---------------------------------------------------------------------------------------------
# several files
# ---------------------------------------------------------------------------------------------


def test_several_files_merge(tmp_path: Path, base_raw: dict) -> None:
    first = _write(tmp_path, f"{LOSS}: {{choices: [mse, kl]}}\n", "a.yaml")
    second = _write(
        tmp_path, f"{LR}: {{low: 1.0e-4, high: 1.0e-2, when: {{{LOSS}: kl}}}}\n", "b.yaml"
    )
    space = load_space([str(first), second], base_raw)
    assert space.files == [first, second]
    assert [(p.key, p.source) for p in space.params] == [(LOSS, str(first)), (LR, str(second))]
    active = {values[LOSS]: (LR in values) for values, _ in _trials(space, 20)}
    assert active == {"mse": False, "kl": True}


def test_same_key_in_two_files_is_refused(tmp_path: Path, base_raw: dict) -> None:
    first = _write(tmp_path, f"{LOSS}: {{choices: [mse, kl]}}\n", "a.yaml")
    second = _write(tmp_path, f"{LOSS}: {{choices: [js]}}\n", "b.yaml")
    with pytest.raises(SweepError) as info:
        load_space([first, second], base_raw)
    assert str(info.value) == f"{second}: {LOSS} is already defined in {first}"


def test_no_space_files_is_refused(base_raw: dict) -> None:
    with pytest.raises(SweepError, match="no search space given; pass at least one --space FILE"):
        load_space([], base_raw)


# ---------------------------------------------------------------------------------------------
# refused before any trial
# ---------------------------------------------------------------------------------------------

# load_space: each message starts with the file (and the key=value checked), then the reason
BAD_SPACES = [
    ("model.backbne: {choices: [resnet18]}\n", ["model.backbne", "unknown config key"]),
    (
        "model.backbone: {choices: [resnet18, not_a_net]}\n",
        ["[model.backbone=not_a_net]", "'model.backbone'", "not_a_net", "resnet18"],
    ),
    (
        f"{DIMS}: {{choices: [{{height: 64, width: 64}}, {{height: 100, width: 100}}]}}\n",
        [f"[{DIMS}={{height: 100, width: 100}}]", "'data.image_resize_dims.height'", "100"],
    ),
    (
        "training.train_batch_size: {low: 0, high: 32}\n",
        ["[training.train_batch_size=0]", "an integer >= 1", "got 0"],
    ),
    (
        "training.min_epochs: {low: 1, high: 50}\n",
        ["[training.min_epochs=50]", "<= training.max_epochs (40)"],
    ),
    (
        "model.model_type: {choices: [heatmap, heatmap_multiview_transformer]}\n",
        # a value the base config cannot take: the transformer needs one label file per camera
        ["[model.model_type=heatmap_multiview_transformer]", "expected a list of label files"],
    ),
    ("model.backbone: {choices: []}\n", ["model.backbone", "'choices' must be a non-empty list"]),
    (
        "model.backbone: {choices: [resnet18, resnet50, resnet18]}\n",
        ["model.backbone", "duplicate choices resnet18"],
    ),
    (
        "model.backbone: {choice: [resnet18]}\n",
        ["model.backbone", "unknown field(s) choice; expected choices, high, log, low, step, when"],
    ),
    (
        "training.train_batch_size: {low: 32, high: 8}\n",
        ["training.train_batch_size", "'low' (32) must not exceed 'high' (8)"],
    ),
    (
        f"{LR}: {{low: 0.0, high: 1.0e-2, log: true}}\n",
        [LR, "a log range needs 'low' > 0, got 0.0"],
    ),
    (
        f"{LR}: {{low: 1.0e-4, high: 1.0e-2, log: true, step: 1.0e-4}}\n",
        [LR, "'log' and 'step' cannot be combined"],
    ),
    (
        f"{LR}: {{low: 1.0e-4, high: 1.0e-2, when: {{model.nope: 1}}}}\n",
        [LR, "'when' refers to unknown config key 'model.nope'"],
    ),
    (
        f"{LR}: {{low: 1.0e-4, high: 1.0e-2, when: {{{LOSS}: {{is: kl}}}}}}\n",
        [LR, f"condition on '{LOSS}' must have one of equals, in, contains, got {{'is': 'kl'}}"],
    ),
    ("- model.backbone\n", ["expected a mapping of dotted config keys to distributions"]),
    ("", ["expected a mapping of dotted config keys to distributions, got None"]),
    ("model.backbone: {choices: [resnet18\n", ["YAML syntax error"]),
]


@pytest.mark.parametrize(
    ("text", "fragments"),
    BAD_SPACES,
    ids=[f"{i}-{f[-1][:30]}" for i, (_, f) in enumerate(BAD_SPACES)],
)
def test_bad_space_is_refused_naming_file_and_key(
    tmp_path: Path, base_raw: dict, text: str, fragments: list[str]
) -> None:
    path, message = _refused(tmp_path, base_raw, text)
    assert message.startswith(str(path))
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


# parse_param (what load_space calls per entry, with the file as source): (key, spec, message)
BAD_SPECS = [
    (LR, {"low": 1e-4, "high": 1e-2, "when": []}, f"{LR}: 'when' must map config keys"),
    (LR, {"low": 1e-4, "high": 1e-2, "when": "kl"}, f"{LR}: 'when' must map config keys"),
    (LR, {"low": 1e-4, "high": 1e-2, "when": {}}, f"{LR}: 'when' must map config keys"),
    (
        LR,
        {"low": 1e-4, "high": 1e-2, "when": {LOSS: {"in": "kl"}}},
        f"{LR}: 'in' condition on '{LOSS}' needs a list",
    ),
    (
        # a bare mapping is read as an operator: dict values need {equals: ...}
        LR,
        {"low": 1e-4, "high": 1e-2, "when": {DIMS: {"height": 64, "width": 64}}},
        f"{LR}: condition on '{DIMS}' must have one of equals, in, contains",
    ),
    (
        LR,
        {"low": 1e-4, "high": 1e-2, "when": {LOSS: {"equals": "kl", "in": ["kl"]}}},
        f"{LR}: condition on '{LOSS}' must have one of equals, in, contains",
    ),
    (
        DIMS,
        {"choices": [{"height": 64, "width": 64}, {"width": 64, "height": 64}]},
        f"{DIMS}: duplicate choices {{height: 64, width: 64}}",
    ),
    (
        "model.backbone",
        {"choices": "resnet18"},
        "model.backbone: 'choices' must be a non-empty list, got 'resnet18'",
    ),
    (
        "model.backbone",
        {"choices": ["resnet18"], "low": 1, "step": 2},
        "model.backbone: 'choices' cannot be combined with low, step",
    ),
    ("model.backbone", "resnet18", "model.backbone: expected a mapping with 'choices'"),
    ("model.backbone", None, "model.backbone: expected a mapping with 'choices'"),
    ("model..backbone", {"choices": [1]}, "'model..backbone': expected a dotted config key"),
    ("model.back-bone", {"choices": [1]}, "'model.back-bone': expected a dotted config key"),
    (1, {"choices": [1]}, "1: expected a dotted config key"),
    (
        "training.train_batch_size",
        {"low": 8},
        "training.train_batch_size: expected 'choices', or both 'low' and 'high'",
    ),
    (
        "training.train_batch_size",
        {"low": "a", "high": 8},
        "training.train_batch_size: 'low' and 'high' must be numbers, got 'a' and 8",
    ),
    (
        "training.train_batch_size",
        {"low": True, "high": 8},
        "training.train_batch_size: 'low' and 'high' must be numbers, got True and 8",
    ),
    (LR, {"low": 1e-4, "high": 1e-2, "log": 1}, f"{LR}: 'log' must be true or false, got 1"),
    (
        "training.train_batch_size",
        {"low": 8, "high": 32, "step": 0},
        "training.train_batch_size: 'step' must be a positive number, got 0",
    ),
    (
        "training.train_batch_size",
        {"low": 8, "high": 32, "step": "8"},
        "training.train_batch_size: 'step' must be a positive number, got '8'",
    ),
    (LR, {"low": -1.0, "high": 1e-2, "log": True}, f"{LR}: a log range needs 'low' > 0, got -1.0"),
]


@pytest.mark.parametrize(("key", "spec", "message"), BAD_SPECS, ids=[m for *_, m in BAD_SPECS])
def test_bad_entry_is_refused(key: Any, spec: Any, message: str) -> None:
    with pytest.raises(SweepError) as info:
        parse_param(key, spec, "space.yaml")
    assert str(info.value).startswith(f"space.yaml: {message}")


def test_missing_space_file_is_refused(tmp_path: Path, base_raw: dict) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SweepError) as info:
        load_space([missing], base_raw)
    assert str(info.value) == f"{missing}: search-space file not found"


def test_second_file_errors_name_that_file(tmp_path: Path, base_raw: dict) -> None:
    good = _write(tmp_path, f"{LOSS}: {{choices: [mse, kl]}}\n", "good.yaml")
    bad = _write(tmp_path, "model.backbne: {choices: [resnet18]}\n", "bad.yaml")
    with pytest.raises(SweepError) as info:
        load_space([good, bad], base_raw)
    assert str(info.value).startswith(f"{bad} [model.backbne=resnet18]: ")


# ---------------------------------------------------------------------------------------------
# grids
# ---------------------------------------------------------------------------------------------


def _space(entries: dict[str, Any]) -> SearchSpace:
    """A space of ``parse_param`` entries, unchecked against a config (grids need no config)."""
    params = [parse_param(key, spec, "space.yaml") for key, spec in entries.items()]
    return SearchSpace(params, [Path("space.yaml")], {}, {})


def test_grid_per_kind() -> None:
    space = _space(
        {
            "model.backbone": {"choices": ["resnet18", "resnet50"]},
            "training.imgaug_hflip": {"choices": [True, False, None]},
            DIMS: {"choices": SIZES[:2]},
            MILESTONES: {"choices": [[], [10, 20]]},
            "training.train_batch_size": {"low": 8, "high": 30, "step": 8},
            "training.max_epochs": {"low": 38, "high": 40},
            "training.min_epochs": {"low": 1, "high": 4, "log": True},
            GAMMA: {"low": 0.1, "high": 0.45, "step": 0.1},
            LR: {"low": 0.001, "high": 0.003, "step": 0.001},
            "losses.temporal.log_weight": {"low": 0, "high": 1, "step": 0.25},
            "losses.temporal.prob_threshold": {"low": 0.5, "high": 0.5, "step": 0.1},
        }
    )
    assert space.grid() == {
        "model.backbone": ["resnet18", "resnet50"],
        "training.imgaug_hflip": [True, False, None],
        DIMS: ["{height: 64, width: 64}", "{height: 128, width: 128}"],
        MILESTONES: ["[]", "[10, 20]"],
        "training.train_batch_size": [8, 16, 24],
        "training.max_epochs": [38, 39, 40],
        "training.min_epochs": [1, 2, 3, 4],
        GAMMA: [0.1, 0.2, 0.3, 0.4],
        LR: [0.001, 0.002, 0.003],
        "losses.temporal.log_weight": [0, 0.25, 0.5, 0.75, 1.0],
        "losses.temporal.prob_threshold": [0.5],
    }


def test_grid_of_float_range_without_step_is_refused() -> None:
    space = _space({LOSS: {"choices": ["mse"]}, LR: {"low": 1.0e-4, "high": 1.0e-2}})
    with pytest.raises(SweepError) as info:
        space.grid()
    assert str(info.value) == (
        f"space.yaml: {LR}: the grid sampler needs 'choices' or a 'step' for floats"
    )


def test_grid_of_log_float_range_is_refused() -> None:
    space = _space({LR: {"low": 1.0e-4, "high": 1.0e-2, "log": True}})
    with pytest.raises(SweepError, match="the grid sampler needs 'choices' or a 'step'"):
        space.grid()


def test_grid_sampler_visits_every_combination() -> None:
    space = _space(
        {
            DIMS: {"choices": SIZES[:2]},
            "training.train_batch_size": {"low": 8, "high": 24, "step": 8},
            GAMMA: {"low": 0.25, "high": 0.5, "step": 0.25},
        }
    )
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(space.grid(), seed=0))
    seen = []

    def objective(trial: optuna.Trial) -> float:
        values = space.sample(trial)
        seen.append((values[DIMS]["height"], values["training.train_batch_size"], values[GAMMA]))
        return 0.0

    study.optimize(objective, n_trials=50)  # the sampler stops the study once the grid is done
    assert sorted(seen) == sorted(itertools.product([64, 128], [8, 16, 24], [0.25, 0.5]))


# ---------------------------------------------------------------------------------------------
# base config, overrides, apply_values
# ---------------------------------------------------------------------------------------------


def test_overrides_apply_to_base(tmp_path: Path, base_raw: dict) -> None:
    before = copy.deepcopy(base_raw)
    text = "training.min_epochs: {low: 1, high: 50}\n"
    # max_epochs 40 in the base config: min_epochs 50 is refused ...
    with pytest.raises(SweepError, match=r"<= training.max_epochs \(40\)"):
        _load(tmp_path, base_raw, text)
    # ... and accepted once an override raises max_epochs
    space = _load(tmp_path, base_raw, text, ["training.max_epochs=60", f"{LOSS}=kl"])
    assert space.base_raw["training"]["max_epochs"] == 60
    assert space.base_raw["model"]["heatmap_loss_type"] == "kl"
    assert space.base_values["training"]["max_epochs"] == 60
    assert space.base_values["model"]["heatmap_loss_type"] == "kl"
    assert space.base_values["model"]["backbone"] == "resnet18"
    assert base_raw == before  # the caller's raw config is left alone
    for values, _ in _trials(space, 2):
        cfg = build_config(apply_values(space.base_raw, values))
        assert cfg.training.max_epochs == 60 and cfg.model.heatmap_loss_type == "kl"


def test_no_overrides_keeps_base(tmp_path: Path, base_raw: dict) -> None:
    space = _load(tmp_path, base_raw, f"{LOSS}: {{choices: [mse, kl]}}\n")
    assert space.base_raw == base_raw
    assert space.base_raw is not base_raw
    # resolved values: defaults the file leaves out are filled in
    assert space.base_values["training"]["precision"] == "auto"


def test_bad_base_config_is_refused(tmp_path: Path, base_raw: dict) -> None:
    with pytest.raises(ConfigError, match="base config: .*training.max_epochs"):
        _load(tmp_path, base_raw, f"{LOSS}: {{choices: [mse]}}\n", ["training.max_epochs=0"])


def test_apply_values_does_not_mutate_input(base_raw: dict) -> None:
    before = copy.deepcopy(base_raw)
    dims = {"height": 64, "width": 64}
    values = {DIMS: dims, LR: 3e-3, "losses.temporal.log_weight": 1.5}
    out = apply_values(base_raw, values)
    assert base_raw == before
    assert values == {
        DIMS: {"height": 64, "width": 64},
        LR: 3e-3,
        "losses.temporal.log_weight": 1.5,
    }
    assert out["data"]["image_resize_dims"] == dims
    assert out["data"]["image_resize_dims"] is not dims
    assert out["training"]["optimizer_params"]["learning_rate"] == 3e-3
    assert out["losses"] == {"temporal": {"log_weight": 1.5}}  # sections created as needed
    assert out["model"] == before["model"]
    out["model"]["backbone"] = "changed"
    out["data"]["image_resize_dims"]["height"] = 512
    assert base_raw == before and dims == {"height": 64, "width": 64}


def test_sampled_dict_values_are_not_shared_with_the_space(tmp_path: Path, base_raw: dict) -> None:
    space = _load(tmp_path, base_raw, f"{DIMS}: {{choices: [{{height: 64, width: 64}}]}}\n")
    [(values, _)] = _trials(space, 1)
    raw = apply_values(space.base_raw, values)
    raw["data"]["image_resize_dims"]["height"] = 512
    assert space.params[0].choices == ({"height": 64, "width": 64},)


# ---------------------------------------------------------------------------------------------
# known bugs
# ---------------------------------------------------------------------------------------------


def test_int_and_float_choices_stay_distinct(tmp_path: Path, base_raw: dict) -> None:
    space = _load(tmp_path, base_raw, "training.train_frames: {choices: [1, 1.0]}\n")
    kinds = set()
    for values, params in _trials(space, 20):
        sampled, optuna_value = values["training.train_frames"], params["training.train_frames"]
        assert type(sampled) is type(optuna_value)
        kinds.add(type(sampled))
    assert kinds == {int, float}


def test_when_on_sub_key_of_sampled_dict(tmp_path: Path, base_raw: dict) -> None:
    space = _load(
        tmp_path,
        base_raw,
        f"""
{DIMS}: {{choices: [{{height: 64, width: 64}}, {{height: 256, width: 256}}]}}
{LR}:
  choices: [0.002]
  when: {{{DIMS}.height: 64}}      # the base config's height is 128
""",
    )
    samples = [values for values, _ in _trials(space, 20)]
    assert {values[DIMS]["height"] for values in samples} == {64, 256}
    for values in samples:
        assert (LR in values) is (values[DIMS]["height"] == 64)


def test_same_key_twice_in_one_file_is_refused(tmp_path: Path, base_raw: dict) -> None:
    path, message = _refused(
        tmp_path,
        base_raw,
        "model.backbone: {choices: [resnet18, resnet50]}\nmodel.backbone: {choices: [resnet18]}\n",
    )
    assert str(path) in message and "model.backbone" in message
