"""Load, override, default and validate Lightning Pose ``config.yaml`` files."""

from pose.config.loader import (
    build_config,
    config_to_dict,
    load_config,
    parse_override,
    read_config_file,
    save_config,
    set_dotted,
)
from pose.config.schema import SUPPORTED_RESIZE_DIMS, PoseConfig
from pose.config.validate import (
    check_keypoint_references,
    config_warnings,
    untrainable_reason,
    validate_config,
)

__all__ = [
    "SUPPORTED_RESIZE_DIMS",
    "PoseConfig",
    "build_config",
    "config_warnings",
    "config_to_dict",
    "load_config",
    "parse_override",
    "read_config_file",
    "save_config",
    "set_dotted",
    "untrainable_reason",
    "check_keypoint_references",
    "validate_config",
]
