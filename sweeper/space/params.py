"""One searchable config key: its distribution, its activation condition, and how Optuna samples it.

Search-space files map dotted config keys to one of::

    model.backbone: {choices: [resnet18, resnet50]}          # any YAML values, dicts and lists too
    training.optimizer_params.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
    training.train_batch_size: {low: 8, high: 32, step: 8}    # ints when low and high are ints
    losses.temporal.log_weight:
      low: 8.0
      high: 12.0
      when: {model.losses_to_use: {contains: temporal}}      # or KEY: VALUE, {equals: V}, {in: [...]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
import yaml

from sweeper.errors import SweepError

_SPEC_KEYS = {"choices", "low", "high", "log", "step", "when"}
_CONDITION_OPS = ("equals", "in", "contains")
_SCALARS = (type(None), bool, int, float, str)


def value_label(value: Any) -> str:
    """Compact one-line YAML of a value, used as its Optuna/MLflow name (``{height: 256, width: 256}``)."""
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("\n...")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Condition:
    """``when:`` clause: the param is active only if config key ``key`` satisfies ``op``/``operand``."""

    key: str
    op: str
    operand: Any

    def holds(self, value: Any) -> bool:
        if self.op == "equals":
            return bool(value == self.operand)
        if self.op == "in":
            return value in self.operand
        return isinstance(value, (list, tuple)) and self.operand in value  # contains

    def describe(self) -> str:
        return f"{self.key} {self.op} {value_label(self.operand)}"


@dataclass(frozen=True)
class Param:
    """A dotted config key with a categorical, int or float distribution."""

    key: str
    source: str
    kind: str  # "categorical" | "int" | "float"
    choices: tuple[Any, ...] = ()
    low: float = 0
    high: float = 0
    log: bool = False
    step: float | None = None
    when: tuple[Condition, ...] = field(default=())

    @property
    def labels(self) -> list[Any]:
        """Optuna's choices: the values themselves when all are scalars, else their YAML labels."""
        if all(isinstance(c, _SCALARS) for c in self.choices):
            return list(self.choices)
        return [value_label(c) for c in self.choices]

    def describe(self) -> dict[str, Any]:
        """The distribution as plain data (what defines it, not where it was written)."""
        return {
            "key": self.key,
            "kind": self.kind,
            "choices": [value_label(c) for c in self.choices],
            "range": [self.low, self.high, self.log, self.step],
            "when": [c.describe() for c in self.when],
        }

    def candidate_values(self) -> list[Any]:
        """Values worth checking against the base config before any trial runs."""
        return list(self.choices) if self.kind == "categorical" else [self.low, self.high]

    def suggest(self, trial: optuna.Trial) -> Any:
        """Sample this key in ``trial``; categorical labels map back to their YAML values."""
        if self.kind == "categorical":
            labels = self.labels
            label = trial.suggest_categorical(self.key, labels)
            # match type too: 1, 1.0 and True are == but mean different things in a config
            index = next(
                i for i, known in enumerate(labels) if type(known) is type(label) and known == label
            )
            return self.choices[index]
        if self.kind == "int":
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def grid(self) -> list[Any]:
        """Every value for the grid sampler (floats need a ``step``)."""
        if self.kind == "categorical":
            return self.labels
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise SweepError(
                f"{self.source}: {self.key}: the grid sampler needs 'choices' or a 'step' for floats"
            )
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]


def _parse_conditions(key: str, source: str, when: Any) -> tuple[Condition, ...]:
    if not isinstance(when, Mapping) or not when:
        raise SweepError(
            f"{source}: {key}: 'when' must map config keys to a value or to "
            f"{{equals|in|contains: ...}}, got {when!r}"
        )
    conditions = []
    for other, test in when.items():
        if isinstance(test, Mapping):
            if len(test) != 1 or next(iter(test)) not in _CONDITION_OPS:
                raise SweepError(
                    f"{source}: {key}: condition on {other!r} must have one of "
                    f"{', '.join(_CONDITION_OPS)}, got {dict(test)!r}"
                )
            op, operand = next(iter(test.items()))
            if op == "in" and not isinstance(operand, list):
                raise SweepError(f"{source}: {key}: 'in' condition on {other!r} needs a list")
            conditions.append(Condition(str(other), op, operand))
        else:
            conditions.append(Condition(str(other), "equals", test))
    return tuple(conditions)


def parse_param(key: Any, spec: Any, source: str) -> Param:
    """Check one entry of a space file and turn it into a :class:`Param`."""
    if not isinstance(key, str) or not all(part.isidentifier() for part in key.split(".")):
        raise SweepError(f"{source}: {key!r}: expected a dotted config key such as model.backbone")
    if not isinstance(spec, Mapping):
        raise SweepError(
            f"{source}: {key}: expected a mapping with 'choices' or 'low'/'high', got {spec!r}"
        )
    unknown = sorted(set(map(str, spec)) - _SPEC_KEYS)
    if unknown:
        raise SweepError(
            f"{source}: {key}: unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(_SPEC_KEYS))}"
        )
    when = _parse_conditions(key, source, spec["when"]) if "when" in spec else ()
    if "choices" in spec:
        return _categorical(key, spec, source, when)
    return _numeric(key, spec, source, when)


def _categorical(
    key: str, spec: Mapping[str, Any], source: str, when: tuple[Condition, ...]
) -> Param:
    choices = spec["choices"]
    extra = sorted(set(spec) & {"low", "high", "log", "step"})
    if extra:
        raise SweepError(f"{source}: {key}: 'choices' cannot be combined with {', '.join(extra)}")
    if not isinstance(choices, list) or not choices:
        raise SweepError(f"{source}: {key}: 'choices' must be a non-empty list, got {choices!r}")
    labels = [value_label(c) for c in choices]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise SweepError(f"{source}: {key}: duplicate choices {', '.join(duplicates)}")
    return Param(key, source, "categorical", choices=tuple(choices), when=when)


def _numeric(key: str, spec: Mapping[str, Any], source: str, when: tuple[Condition, ...]) -> Param:
    if "low" not in spec or "high" not in spec:
        raise SweepError(f"{source}: {key}: expected 'choices', or both 'low' and 'high'")
    low, high, step, log = spec["low"], spec["high"], spec.get("step"), spec.get("log", False)
    if not (_is_number(low) and _is_number(high)):
        raise SweepError(
            f"{source}: {key}: 'low' and 'high' must be numbers, got {low!r} and {high!r}"
        )
    if not isinstance(log, bool):
        raise SweepError(f"{source}: {key}: 'log' must be true or false, got {log!r}")
    if low > high:
        raise SweepError(f"{source}: {key}: 'low' ({low}) must not exceed 'high' ({high})")
    if step is not None and (not _is_number(step) or step <= 0):
        raise SweepError(f"{source}: {key}: 'step' must be a positive number, got {step!r}")
    if log and step is not None:
        raise SweepError(f"{source}: {key}: 'log' and 'step' cannot be combined")
    if log and low <= 0:
        raise SweepError(f"{source}: {key}: a log range needs 'low' > 0, got {low}")
    is_int = all(isinstance(v, int) for v in (low, high)) and (
        step is None or isinstance(step, int)
    )
    kind = "int" if is_int else "float"
    return Param(key, source, kind, low=low, high=high, log=log, step=step, when=when)
