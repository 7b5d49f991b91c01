"""Camera rigs: the calibration of a multi-camera setup, read from and written to Anipose TOML.

Anipose's ``calibration.toml`` is the format Lightning Pose reads, so a rig calibrated with Anipose
(or written here) works in both. Cameras are pinhole with OpenCV's 5-coefficient distortion
(k1, k2, p1, p2, k3) and world->camera extrinsics ``x_cam = R(rvec) @ x_world + t``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from pose.errors import DataError
from pose.optional import require

NUM_DISTORTIONS = 5


@dataclass(frozen=True)
class CameraTensors:
    """A rig's parameters as torch tensors, for the batched projection code.

    Every field may carry leading batch dimensions (one calibration per sample) that broadcast
    against the points' batch dimensions.

    Attributes:
        K: intrinsic matrices ``[..., V, 3, 3]``.
        dist: OpenCV distortion ``(k1, k2, p1, p2, k3)`` ``[..., V, 5]``.
        R: world->camera rotation matrices ``[..., V, 3, 3]``.
        t: world->camera translations ``[..., V, 3]``.
    """

    K: Tensor
    dist: Tensor
    R: Tensor
    t: Tensor

    @property
    def num_views(self) -> int:
        return int(self.K.shape[-3])

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> CameraTensors:
        """The same cameras on ``device`` and/or in ``dtype``."""
        return CameraTensors(
            *(x.to(device=device, dtype=dtype) for x in (self.K, self.dist, self.R, self.t))
        )


def _readonly(values: object, dtype: type, shape: tuple[int, ...], name: str) -> np.ndarray:
    array: np.ndarray = np.array(values, dtype=dtype)
    if array.shape != shape:
        raise ValueError(f"CameraRig.{name} must have shape {shape}, got {array.shape}")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class CameraRig:
    """The calibration of ``V`` cameras, in the order of ``names``.

    Attributes:
        names: camera (view) names, unique.
        intrinsics: ``[V, 3, 3]`` camera matrices (skew is ignored, as OpenCV does).
        distortions: ``[V, 5]`` OpenCV ``(k1, k2, p1, p2, k3)``.
        rotations: ``[V, 3]`` Rodrigues vectors, world -> camera.
        translations: ``[V, 3]`` world -> camera, in the calibration's world units.
        image_sizes: ``[V, 2]`` ``(width, height)`` in pixels of the frames the calibration is for.
        source: the file the rig was read from, named in error messages.
    """

    names: tuple[str, ...]
    intrinsics: np.ndarray
    distortions: np.ndarray
    rotations: np.ndarray
    translations: np.ndarray
    image_sizes: np.ndarray
    source: Path | None = None

    def __post_init__(self) -> None:
        names = tuple(str(name) for name in self.names)
        if len(set(names)) != len(names):
            raise ValueError(f"CameraRig.names must be unique, got {list(names)}")
        v = len(names)
        setattr_ = object.__setattr__  # frozen: normalize the fields once, here
        setattr_(self, "names", names)
        setattr_(
            self, "intrinsics", _readonly(self.intrinsics, np.float64, (v, 3, 3), "intrinsics")
        )
        setattr_(
            self,
            "distortions",
            _readonly(self.distortions, np.float64, (v, NUM_DISTORTIONS), "distortions"),
        )
        setattr_(self, "rotations", _readonly(self.rotations, np.float64, (v, 3), "rotations"))
        setattr_(
            self, "translations", _readonly(self.translations, np.float64, (v, 3), "translations")
        )
        setattr_(self, "image_sizes", _readonly(self.image_sizes, np.int64, (v, 2), "image_sizes"))

    @property
    def num_views(self) -> int:
        return len(self.names)

    def select(self, view_names: Sequence[str]) -> CameraRig:
        """The cameras named ``view_names``, in that order (the config's, not the file's)."""
        index = {name: i for i, name in enumerate(self.names)}
        missing = [name for name in view_names if name not in index]
        if missing:
            where = f" in calibration file {self.source}" if self.source is not None else ""
            raise DataError(
                f"no camera named {', '.join(map(repr, missing))}{where} "
                f"(it has cameras {', '.join(map(repr, self.names))})"
            )
        order = [index[name] for name in view_names]
        return CameraRig(
            names=tuple(view_names),
            intrinsics=self.intrinsics[order],
            distortions=self.distortions[order],
            rotations=self.rotations[order],
            translations=self.translations[order],
            image_sizes=self.image_sizes[order],
            source=self.source,
        )

    def rotation_matrices(self) -> np.ndarray:
        """``[V, 3, 3]`` world -> camera rotation matrices of the Rodrigues vectors."""
        matrices = [cv2.Rodrigues(rvec)[0] for rvec in self.rotations]
        return np.stack(matrices) if matrices else np.zeros((0, 3, 3))

    def to_tensors(
        self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
    ) -> CameraTensors:
        """The rig as tensors for :mod:`pose.geometry.projection` (Rodrigues done in float64)."""

        def tensor(array: np.ndarray) -> Tensor:
            return torch.tensor(
                array, dtype=dtype, device=device
            )  # a copy: rig arrays are read-only

        return CameraTensors(
            K=tensor(self.intrinsics),
            dist=tensor(self.distortions),
            R=tensor(self.rotation_matrices()),
            t=tensor(self.translations),
        )


# what aniposelib raises on a file that is not TOML, or TOML that is not a calibration
_UNREADABLE = (ValueError, TypeError, KeyError, AttributeError, IndexError, UnicodeDecodeError)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


def _camera_field(
    values: object, shape: tuple[int, ...], path: Path, name: str, key: str
) -> np.ndarray:
    """One camera's ``key`` as finite float64 numbers of ``shape``, or a DataError naming it."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.full(0, np.nan)
    if array.shape != shape or not np.isfinite(array).all():
        raise DataError(
            f"calibration file {path}: camera {name!r} key {key!r} must be {shape} finite "
            f"numbers, got {' '.join(repr(values).split())}"
        )
    return array


def _distortion_vector(values: np.ndarray, path: Path, name: str) -> np.ndarray:
    """Anipose stores as many coefficients as were fitted; pad to OpenCV's 5 with zeros."""
    dist = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(dist).all():
        raise DataError(
            f"calibration file {path}: camera {name!r} key 'distortions' has non-finite values"
        )
    if dist.size > NUM_DISTORTIONS and np.any(dist[NUM_DISTORTIONS:] != 0):
        raise DataError(
            f"calibration file {path}: camera {name!r} has {dist.size} distortion coefficients; "
            f"only OpenCV's first {NUM_DISTORTIONS} (k1, k2, p1, p2, k3) are supported"
        )
    out = np.zeros(NUM_DISTORTIONS)
    out[: min(dist.size, NUM_DISTORTIONS)] = dist[:NUM_DISTORTIONS]
    return out


def load_calibration(path: str | Path, view_names: Sequence[str]) -> CameraRig:
    """Read an Anipose calibration TOML and return the cameras ``view_names``, in that order.

    Raises:
        DataError: the file is missing or not an Anipose calibration, a camera is fisheye (only
            pinhole is supported), or a view has no camera of that name in the file.
    """
    path = Path(path)
    cameras_module = require("aniposelib.cameras", "multiview", "reading camera calibrations")
    if not path.is_file():
        raise DataError(f"calibration file {path} not found")
    try:
        group = cameras_module.CameraGroup.load(str(path))
    except _UNREADABLE as err:
        raise DataError(
            f"calibration file {path} is not an Anipose calibration TOML ({_first_line(err)})"
        ) from None
    if not group.cameras:
        raise DataError(f"calibration file {path} has no cameras (expected [cam_0], [cam_1], ...)")

    fisheye = [
        cam.get_name() for cam in group.cameras if isinstance(cam, cameras_module.FisheyeCamera)
    ]
    if fisheye:
        raise DataError(
            f"calibration file {path}: camera(s) {', '.join(map(repr, fisheye))} are fisheye; "
            "only pinhole cameras are supported"
        )
    names = tuple(cam.get_name() for cam in group.cameras)
    if len(set(names)) != len(names):
        raise DataError(f"calibration file {path} has duplicate camera names {list(names)}")
    fields = [
        (
            _camera_field(cam.get_camera_matrix(), (3, 3), path, cam.get_name(), "matrix"),
            _distortion_vector(cam.get_distortions(), path, cam.get_name()),
            _camera_field(cam.get_rotation(), (3,), path, cam.get_name(), "rotation"),
            _camera_field(cam.get_translation(), (3,), path, cam.get_name(), "translation"),
            np.rint(_camera_field(cam.get_size(), (2,), path, cam.get_name(), "size")),
        )
        for cam in group.cameras
    ]
    intrinsics, distortions, rotations, translations, sizes = (
        np.stack(f) for f in zip(*fields, strict=True)
    )
    rig = CameraRig(names, intrinsics, distortions, rotations, translations, sizes, source=path)
    return rig.select(view_names)


def write_calibration(rig: CameraRig, path: str | Path) -> Path:
    """Write ``rig`` as an Anipose calibration TOML (readable by Anipose and Lightning Pose)."""
    cameras_module = require("aniposelib.cameras", "multiview", "writing camera calibrations")
    cameras = [
        cameras_module.Camera(
            name=name,
            matrix=rig.intrinsics[i],
            dist=rig.distortions[i],
            size=[int(s) for s in rig.image_sizes[i]],
            rvec=rig.rotations[i],
            tvec=rig.translations[i],
        )
        for i, name in enumerate(rig.names)
    ]
    path = Path(path)
    cameras_module.CameraGroup(cameras, metadata={}).dump(str(path))
    return path
