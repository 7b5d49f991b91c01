"""Search spaces: YAML files mapping dotted config keys to distributions, sampled by Optuna."""

from sweeper.space.params import Condition, Param, parse_param, value_label
from sweeper.space.space import SearchSpace, apply_values, load_space

__all__ = [
    "Condition",
    "Param",
    "SearchSpace",
    "apply_values",
    "load_space",
    "parse_param",
    "value_label",
]
