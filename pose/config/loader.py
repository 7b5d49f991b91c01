"""Load a Lightning Pose ``config.yaml`` into a typed, validated :class:`PoseConfig`.

Steps: safe-load the YAML, apply dotted overrides, merge into the schema (unknown keys and wrong types
fail here), resolve OmegaConf interpolation (``${data.video_dir}``, ``${LP_ROOT_PATH:}``-style
environment defaults), fill defaults that depend on other keys, then run the cross-key checks of
:mod:`pose.config.validate`. Every failure is a :class:`~pose.errors.ConfigError` naming the file and key.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import re
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import (
    ConfigKeyError,
    InterpolationResolutionError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from pose.config.schema import (
    EPOCH_DEFAULTS,
    ImageResizeDims,
    PoseConfig,
)
from pose.errors import ConfigError

EPOCH_KEYS = ("unfreezing_epoch", "min_epochs", "max_epochs")
STEP_KEYS = ("unfreezing_step", "min_steps", "max_steps")
# Default milestones as fractions of max_epochs: the spec's [150, 200, 250] for 300 epochs.
DEFAULT_MILESTONE_FRACTIONS = (0.5, 2 / 3, 5 / 6)
DEFAULT_RESIZE = 256

_ENV_DEFAULT = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):([^}]*)\}")


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-3`` as a float, as OmegaConf's own loader does (YAML 1.1 needs a dot)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_yaml(text: str, source: str) -> Any:
    """Safe-load YAML text; syntax errors become one line naming ``source`` and the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{source}:{where}: YAML syntax error: {problem}") from None


def parse_override(item: str) -> tuple[str, Any]:
    """Split ``training.max_epochs=5`` into its key and YAML-typed value."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*", key):
        raise ConfigError(
            f"override {item!r}: expected KEY=VALUE with a dotted key, e.g. training.max_epochs=5"
        )
    return key, parse_yaml(value, f"override {key}") if value.strip() else None


def _register_env_resolvers(raw: Any) -> None:
    """Make ``${NAME:default}`` read environment variable NAME, as Lightning Pose configs expect."""
    text = yaml.safe_dump(raw) if not isinstance(raw, str) else raw
    for name, _ in _ENV_DEFAULT.findall(text):
        if OmegaConf.has_resolver(name):
            continue
        OmegaConf.register_resolver(
            name,
            lambda default="", _name=name: os.environ.get(_name, str(default)),
            annotation_validation="off",
        )


def set_dotted(raw: dict, key: str, value: Any) -> None:
    """Set ``raw[a][b][c] = value`` for key ``a.b.c``, creating sections as needed."""
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _omegaconf_message(err: OmegaConfBaseException) -> str:
    key = getattr(err, "full_key", None) or "?"
    if isinstance(err, ConfigKeyError):
        return f"unknown config key {key!r}" + _did_you_mean(key)
    if isinstance(err, MissingMandatoryValue):
        return f"config key {key!r} is required but not set"
    if isinstance(err, ValidationError):
        msg = str(getattr(err, "msg", "")).split("\n")[0]
        converted = re.search(r"could not be converted to (\w+)", msg)
        if converted:
            expected = {
                "Integer": "an integer",
                "Float": "a number",
                "Boolean": "true or false",
            }.get(converted.group(1), converted.group(1).lower())
            return f"config key {key!r}: expected {expected}, got {getattr(err, 'value', None)!r}"
        if "is not a ListConfig" in msg:
            return f"config key {key!r}: expected a list, got {getattr(err, 'value', None)!r}"
        return f"config key {key!r}: {msg}"
    if isinstance(err, InterpolationResolutionError):
        msg = str(getattr(err, "msg", err)).split("\n")[0]
        return f"config key {key!r}: cannot resolve interpolation: {msg}"
    return f"config key {key!r}: {str(getattr(err, 'msg', err)).splitlines()[0]}"


def _schema_section(key: str) -> type | None:
    """The schema dataclass that holds ``key`` ("training.max_epoch" -> TrainingConfig)."""
    section: type | None = PoseConfig
    for part in key.split(".")[:-1]:
        hints = typing.get_type_hints(section) if section else {}
        section = hints.get(part)
        if not (isinstance(section, type) and dataclasses.is_dataclass(section)):
            return None
    return section


def _did_you_mean(key: str) -> str:
    """The hint for a misspelt key, e.g. `` (did you mean 'training.max_epochs'?)``, from the
    schema's own fields (empty when nothing is close)."""
    section = _schema_section(key)
    if section is None:
        return ""
    parent, _, leaf = key.rpartition(".")
    names = [f.name for f in dataclasses.fields(section)]
    close = difflib.get_close_matches(leaf, names, n=1, cutoff=0.75)
    return f" (did you mean {(parent + '.' if parent else '') + close[0]!r}?)" if close else ""


def _training_mode(training: Mapping[str, Any], source: str) -> str:
    """'epochs' or 'steps', from the keys the user set; mixing the two is an error."""
    params = training.get("lr_scheduler_params")
    ms = params.get("multisteplr") if isinstance(params, Mapping) else None
    ms = ms if isinstance(ms, Mapping) else {}
    epoch_set = [k for k in EPOCH_KEYS if training.get(k) is not None]
    step_set = [k for k in STEP_KEYS if training.get(k) is not None]
    if ms.get("milestones") is not None:
        epoch_set.append("lr_scheduler_params.multisteplr.milestones")
    if ms.get("milestone_steps") is not None:
        step_set.append("lr_scheduler_params.multisteplr.milestone_steps")
    if epoch_set and step_set:
        raise ConfigError(
            f"{source}: training mixes epoch-based keys ({', '.join('training.' + k for k in epoch_set)}) "
            f"with step-based keys ({', '.join('training.' + k for k in step_set)}); use one or the other"
        )
    return "steps" if step_set else "epochs"


def _fill_dependent_defaults(cfg: PoseConfig, mode: str, user_training: Mapping[str, Any]) -> None:
    """Defaults that depend on other keys (the schema holds the fixed ones)."""
    t = cfg.training
    ms = t.lr_scheduler_params.multisteplr
    if mode == "epochs":
        for key, default in EPOCH_DEFAULTS.items():
            if getattr(t, key) is None:
                setattr(t, key, default)
        max_epochs = int(t.max_epochs or EPOCH_DEFAULTS["max_epochs"])
        if (t.min_epochs or 0) > max_epochs and user_training.get("min_epochs") is None:
            t.min_epochs = max_epochs  # a user's short max_epochs caps the default min_epochs
        if ms.milestones is None:
            ms.milestones = sorted(
                {max(1, int(f * max_epochs)) for f in DEFAULT_MILESTONE_FRACTIONS}
            )
    else:
        if t.unfreezing_step is None:
            t.unfreezing_step = 0
        if t.max_steps is None and t.min_steps is not None:
            t.max_steps = t.min_steps
        if t.min_steps is None and t.max_steps is not None:
            t.min_steps = t.max_steps
        if ms.milestone_steps is None:
            ms.milestone_steps = []
    dims = cfg.data.image_resize_dims
    if dims.height is None or dims.width is None:
        cfg.data.image_resize_dims = ImageResizeDims(
            height=dims.height or DEFAULT_RESIZE, width=dims.width or DEFAULT_RESIZE
        )
    if cfg.eval.test_videos_directory is None and cfg.data.video_dir:
        cfg.eval.test_videos_directory = cfg.data.video_dir


def build_config(
    raw: Mapping[str, Any],
    overrides: Iterable[str] = (),
    source: str = "config",
    *,
    registries: bool = True,
) -> PoseConfig:
    """Turn a raw mapping (a parsed YAML file) plus overrides into a validated :class:`PoseConfig`.

    ``registries=False`` skips the checks of names against the engine's registries (backbones,
    heads, losses, ...; read from ``pose.config.catalog``), a custom augmentation pipeline's
    arguments (imgaug) and the colormap (matplotlib): a first pass with no heavy import.
    """
    from pose.config.validate import validate_config

    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{source}: expected a mapping of config sections, got {type(raw).__name__}"
        )
    user = copy.deepcopy(dict(raw))
    for item in overrides:
        key, value = parse_override(item)
        set_dotted(user, key, value)
    for section, body in user.items():
        if body is not None and not isinstance(body, Mapping) and section != "hydra":
            raise ConfigError(
                f"{source}: config section {section!r} must be a mapping, got {body!r}"
            )
    hydra = user.pop("hydra", None)
    training = user.get("training") or {}
    mode = _training_mode(training, source)
    _register_env_resolvers(user)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(PoseConfig), user)
        cfg = cast(PoseConfig, OmegaConf.to_object(merged))
    except OmegaConfBaseException as err:
        raise ConfigError(f"{source}: {_omegaconf_message(err)}") from None
    cfg.hydra = hydra
    _fill_dependent_defaults(cfg, mode, training)
    validate_config(cfg, source=source, mode=mode, registries=registries)
    return cfg


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a config file (safe-loaded, not yet merged or validated)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read config file ({err})") from None
    raw = parse_yaml(text, str(path))
    if raw is None:
        raise ConfigError(f"{path}: config file is empty")
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of config sections, got {type(raw).__name__}"
        )
    return raw


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> PoseConfig:
    """Read ``path`` (a Lightning Pose config.yaml), apply ``overrides``, and validate."""
    return build_config(read_config_file(path), overrides, source=str(path))


def config_to_dict(cfg: PoseConfig) -> dict[str, Any]:
    """A plain, resolved dict of ``cfg`` (the ``hydra`` section stays as the user wrote it)."""
    out = cast(dict[str, Any], OmegaConf.to_container(OmegaConf.structured(cfg), resolve=False))
    out["hydra"] = cfg.hydra
    if out["hydra"] is None:
        del out["hydra"]
    return out


def save_config(cfg: PoseConfig, path: str | Path) -> None:
    """Write the resolved config as YAML that :func:`load_config` reads back unchanged."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
