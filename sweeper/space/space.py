"""Search spaces: several YAML files merged, checked against the base config, sampled per trial."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

from pose.config import (
    build_config,
    config_to_dict,
    parse_override,
    set_dotted,
    untrainable_reason,
)
from pose.config.loader import parse_yaml
from pose.errors import ConfigError
from sweeper.errors import SweepError
from sweeper.space.params import Param, parse_param, value_label

_MISSING = object()


def _lookup(tree: Mapping[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def apply_values(raw: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of the raw base config with each dotted key set to its sampled value."""
    out = copy.deepcopy(dict(raw))
    for key, value in values.items():
        set_dotted(out, key, copy.deepcopy(value))
    return out


@dataclass
class SearchSpace:
    """Params in sampling order (a param comes after every param its ``when`` refers to)."""

    params: list[Param]
    files: list[Path]
    base_raw: dict[str, Any]  # the base config as written, overrides applied
    base_values: dict[str, Any]  # the same, resolved and validated

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """The active params' values for ``trial`` (conditions read sampled values, then the base)."""
        values: dict[str, Any] = {}
        for param in self.params:
            if all(c.holds(self._current(c.key, values)) for c in param.when):
                values[param.key] = param.suggest(trial)
        return values

    def _current(self, key: str, values: Mapping[str, Any]) -> Any:
        for sampled, value in values.items():
            if key == sampled:
                return value
            if key.startswith(f"{sampled}."):  # inside a sampled mapping
                found = _lookup(value, key[len(sampled) + 1 :])
                return None if found is _MISSING else found
        if any(_refers_to(key, p.key) for p in self.params):
            return None  # an inactive param holds no value
        return _lookup(self.base_values, key)

    def grid(self) -> dict[str, list[Any]]:
        """The search space of Optuna's GridSampler."""
        return {p.key: p.grid() for p in self.params}

    def labels(self, values: Mapping[str, Any]) -> dict[str, str]:
        """Sampled values as one-line strings, for MLflow params and tables."""
        return {key: value_label(value) for key, value in values.items()}


def _read_space_file(path: Path) -> list[Param]:
    if not path.is_file():
        raise SweepError(f"{path}: search-space file not found")
    try:
        raw = parse_yaml(path.read_text(), str(path))
    except ConfigError as err:
        raise SweepError(str(err)) from None
    if not isinstance(raw, Mapping) or not raw:
        raise SweepError(
            f"{path}: expected a mapping of dotted config keys to distributions, got {raw!r}"
        )
    _refuse_repeated_keys(path)
    return [parse_param(key, spec, str(path)) for key, spec in raw.items()]


def _refers_to(condition_key: str, param_key: str) -> bool:
    """True when a condition on ``condition_key`` reads the value of param ``param_key``."""
    return condition_key == param_key or condition_key.startswith(f"{param_key}.")


def _refuse_repeated_keys(path: Path) -> None:
    """YAML keeps the last of two equal keys silently; in a space file that hides a typo."""
    node = yaml.compose(path.read_text(), Loader=yaml.SafeLoader)
    seen: set[str] = set()
    for key_node, _ in getattr(node, "value", []):
        key = str(key_node.value)
        if key in seen:
            raise SweepError(
                f"{path}: line {key_node.start_mark.line + 1}: {key} is defined twice in this file"
            )
        seen.add(key)


def _sampling_order(params: list[Param]) -> list[Param]:
    """Topological order over ``when`` references; a cycle is an error."""
    by_key = {p.key: p for p in params}
    ordered: list[Param] = []
    state: dict[str, str] = {}

    def visit(param: Param) -> None:
        if state.get(param.key) == "done":
            return
        if state.get(param.key) == "visiting":
            raise SweepError(f"{param.source}: {param.key}: 'when' conditions form a cycle")
        state[param.key] = "visiting"
        for condition in param.when:
            for other in by_key.values():
                if _refers_to(condition.key, other.key):
                    visit(other)
        state[param.key] = "done"
        ordered.append(param)

    for param in params:
        visit(param)
    return ordered


def _check_against_base(param: Param, base_raw: Mapping[str, Any], registries: bool) -> None:
    """Every choice (or both ends of a range) must make a valid, trainable config on its own."""
    for value in param.candidate_values():
        source = f"{param.source} [{param.key}={value_label(value)}]"
        try:
            cfg = build_config(
                apply_values(base_raw, {param.key: value}), source=source, registries=registries
            )
        except ConfigError as err:
            raise SweepError(str(err)) from None
        reason = untrainable_reason(cfg)
        if reason:
            raise SweepError(f"{source}: this engine cannot train it yet: {reason}")


def load_space(
    paths: Sequence[str | Path],
    base_raw: Mapping[str, Any],
    overrides: Sequence[str] = (),
    base_source: str = "base config",
    *,
    registries: bool = True,
) -> SearchSpace:
    """Merge space files and check each key and value against the base config (plus overrides).

    Fails before any trial starts on: a missing or malformed file, a key defined twice, an unknown
    config key, a value its key does not accept, an empty choice list, or a ``when`` on an unknown key.
    With ``registries=False`` names the engine's registries hold (backbones, losses, ...) go
    unchecked, and so nothing heavy is imported (see :func:`pose.config.build_config`).
    """
    if not paths:
        raise SweepError("no search space given; pass at least one --space FILE")
    merged_raw = apply_values(base_raw, dict(parse_override(item) for item in overrides))
    base_values = config_to_dict(
        build_config(merged_raw, source=base_source, registries=registries)
    )

    params: dict[str, Param] = {}
    for path in map(Path, paths):
        for param in _read_space_file(path):
            if param.key in params:
                raise SweepError(
                    f"{path}: {param.key} is already defined in {params[param.key].source}"
                )
            params[param.key] = param
    for param in params.values():
        for condition in param.when:
            if condition.key not in params and _lookup(base_values, condition.key) is _MISSING:
                raise SweepError(
                    f"{param.source}: {param.key}: 'when' refers to unknown config key {condition.key!r}"
                )
        _check_against_base(param, merged_raw, registries)
    return SearchSpace(
        _sampling_order(list(params.values())), list(map(Path, paths)), merged_raw, base_values
    )
