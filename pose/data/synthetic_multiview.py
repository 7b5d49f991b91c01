"""The multi-camera example: one synthetic animal in 3D, filmed by 2-6 calibrated cameras.

A body ellipsoid walks on the floor plane ``z = 0`` of an arena (centimetres, ``z`` up) with a
nose, two alike ears, two alike front paws, a tail base and a tail tip. Pinhole cameras with a
little barrel distortion stand around and above the arena, aimed at its centre, and their
calibration is written as an Anipose ``calibration.toml``. Every view is rendered far to near (painter's algorithm), so a
keypoint on the far side of the body from a camera is hidden in that camera's image; its label in
that view is NaN, as a person labeling the frame would leave it, while the ground truth keeps it.

The layout is a Lightning Pose multiview project (``labeled-data/<session>_<view>/imgNNNN.png``,
``CollectedData_<view>.csv``, ``videos/<session>_<view>.mp4``): row ``i`` of every view's CSV is the
same moment, and the image file names match across views, as Lightning Pose checks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import yaml

from pose.data.labels import LabeledData, write_labels
from pose.data.synthetic import write_video
from pose.optional import require

KEYPOINTS = ["nose", "ear_left", "ear_right", "paw_left", "paw_right", "tail_base", "tail_tip"]
MIN_VIEWS, MAX_VIEWS = 2, 6
WIDTH, HEIGHT = 160, 128
LABELED_SESSION, VIDEO_SESSION = "poses", "synthetic"
CROP_MARGIN, MIN_CROP = 8, 48  # pixels around the keypoints, smallest crop side (``crops=True``)
CALIBRATION_FILE, CAMERA_PARAMS_FILE = "calibration.toml", "camera_params.csv"

SEMI_AXES = np.array([5.0, 2.4, 2.0])  # body ellipsoid: half length, half width, half height
LEG_HEIGHT = 0.4  # gap between the body's lowest point and the floor
TAIL_LENGTH, TAIL_SEGMENTS, TAIL_TIP_HEIGHT = 5.5, 8, 0.4
ARENA = np.array([6.0, 4.0])  # the body centre stays within +-ARENA
REACH = SEMI_AXES[0] + TAIL_LENGTH + 0.5  # farthest any drawn point gets from the body centre
LIGHT = np.array([0.3, -0.4, 1.0]) / np.linalg.norm([0.3, -0.4, 1.0])
MARKER_RADIUS = 0.55  # the keypoint markers are spheres this big
SUPERSAMPLE = 2  # drawn at twice the size, then averaged down: anti-aliased everywhere

# where each body keypoint sits: a direction on the unit sphere of the body's normalised frame
# (x forward, y left, z up) and how far outside the skin it stands (snout and ears protrude)
_ANCHORS = {
    "nose": ((1.0, 0.0, -0.15), 0.5),
    "ear_left": ((0.55, 0.65, 0.5), 0.3),
    "ear_right": ((0.55, -0.65, 0.5), 0.3),
    "tail_base": ((-1.0, 0.0, 0.1), 0.25),
}
_COLOURS = {  # RGB; the ears alike, so left and right come from the 3D geometry only
    "nose": (230, 40, 40),
    "ear_left": (60, 40, 30),
    "ear_right": (60, 40, 30),
    "paw_left": (235, 150, 175),
    "paw_right": (235, 150, 175),
    "tail_base": (240, 240, 240),
    "tail_tip": (40, 90, 230),
}
BODY_COLOUR, TAIL_COLOUR, LEG_COLOUR = (
    np.array([200.0, 170.0, 130.0]),
    (115, 85, 65),
    (170, 135, 100),
)
# the front paws stand on the floor beside the body, this far forward and out (fractions of the
# half length and half width); their legs reach up to the body's underside
PAW_FORWARD, PAW_OUT, PAW_HEIGHT = 0.45, 1.0, 0.3
_PAW_SIDES = {"paw_left": 1.0, "paw_right": -1.0}
_ELEVATIONS = np.radians([35.0, 50.0, 28.0, 42.0, 55.0, 32.0])  # camera i looks down this steeply


@dataclass(frozen=True)
class Pose3D:
    """Where the animal is: body centre on the floor plane, heading (radians from +x, counter-
    clockwise seen from above), body pitch (nose up > 0) and tail wag (radians)."""

    center: np.ndarray  # (x, y)
    heading: float
    pitch: float
    wag: float

    def rotation(self) -> np.ndarray:
        """Body frame -> world: yaw by ``heading`` after pitching the nose up by ``pitch``."""
        ch, sh, cp, sp = (
            np.cos(self.heading),
            np.sin(self.heading),
            np.cos(self.pitch),
            np.sin(self.pitch),
        )
        yaw = np.array([[ch, -sh, 0.0], [sh, ch, 0.0], [0.0, 0.0, 1.0]])
        pitch = np.array([[cp, 0.0, -sp], [0.0, 1.0, 0.0], [sp, 0.0, cp]])
        return yaw @ pitch

    def body_center(self) -> np.ndarray:
        """``[3]`` centre of the ellipsoid, raised so its lowest point is ``LEG_HEIGHT`` up."""
        a, _, c = SEMI_AXES
        half_height = np.hypot(a * np.sin(self.pitch), c * np.cos(self.pitch))
        return np.array([*self.center, LEG_HEIGHT + half_height])


def _body_point(pose: Pose3D, direction: Sequence[float], offset: float) -> np.ndarray:
    unit = np.asarray(direction, dtype=float) / np.linalg.norm(direction)
    normal = unit / SEMI_AXES
    local = SEMI_AXES * unit + offset * normal / np.linalg.norm(normal)
    return pose.body_center() + pose.rotation() @ local


def tail_points(pose: Pose3D) -> np.ndarray:
    """``[TAIL_SEGMENTS + 1, 3]`` polyline from the tail base to the tip, bending by ``wag`` and
    drooping to ``TAIL_TIP_HEIGHT``."""
    base = _body_point(pose, *_ANCHORS["tail_base"])
    s = np.linspace(0.0, 1.0, TAIL_SEGMENTS + 1)
    angles = pose.heading + np.pi + pose.wag * s[1:]
    steps = TAIL_LENGTH / TAIL_SEGMENTS * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    xy = base[:2] + np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])
    z = base[2] + (TAIL_TIP_HEIGHT - base[2]) * s
    return np.column_stack([xy, z])


def legs(pose: Pose3D) -> np.ndarray:
    """``[2, 3, 3]`` the front legs (left, right) as polylines from the body's underside to the paw."""
    a, b, _ = SEMI_AXES
    yaw = np.array(
        [
            [np.cos(pose.heading), -np.sin(pose.heading)],
            [np.sin(pose.heading), np.cos(pose.heading)],
        ]
    )
    out = []
    for side in _PAW_SIDES.values():
        paw = np.array([*(pose.center + yaw @ [PAW_FORWARD * a, side * PAW_OUT * b]), PAW_HEIGHT])
        shoulder = _body_point(pose, (PAW_FORWARD, side * 0.55, -0.7), 0.0)
        out.append(np.stack([shoulder, (shoulder + paw) / 2, paw]))
    return np.stack(out)


def keypoints_3d(pose: Pose3D) -> np.ndarray:
    """``[K, 3]`` world positions of :data:`KEYPOINTS` for ``pose``."""
    paws = dict(zip(_PAW_SIDES, legs(pose)[:, -1], strict=True))
    points = {name: _body_point(pose, *anchor) for name, anchor in _ANCHORS.items()}
    points |= paws | {"tail_tip": tail_points(pose)[-1]}
    return np.stack([points[name] for name in KEYPOINTS])


def segment_hits_body(pose: Pose3D, points: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """``[N]`` True where the body ellipsoid hides a point from a camera at ``eye``: the segment
    between them passes through the body, or the point is inside it."""
    to_local = lambda p: (p - pose.body_center()) @ pose.rotation() / SEMI_AXES  # noqa: E731
    start, end = to_local(np.atleast_2d(points)), to_local(eye[None])
    direction = end - start
    a = np.sum(direction**2, axis=1)
    b = 2 * np.sum(start * direction, axis=1)
    c = np.sum(start**2, axis=1) - 1.0  # < 0: the point is inside the body
    disc = b**2 - 4 * a * c
    first = (-b - np.sqrt(np.maximum(disc, 0.0))) / (2 * a)
    return (c < 0) | ((disc > 0) & (first > 0) & (first < 1))


@dataclass(frozen=True)
class Camera:
    """A calibrated pinhole camera in OpenCV's convention (what Anipose stores)."""

    name: str
    matrix: np.ndarray  # [3, 3] intrinsics
    dist: np.ndarray  # [5] k1, k2, p1, p2, k3
    rvec: np.ndarray  # [3] world -> camera rotation (Rodrigues)
    tvec: np.ndarray  # [3]

    @property
    def center(self) -> np.ndarray:
        """``[3]`` the camera's position in the world."""
        rotation, _ = cv2.Rodrigues(self.rvec)
        return -rotation.T @ self.tvec

    def project(self, points: np.ndarray) -> np.ndarray:
        """``[N, 3]`` world points -> ``[N, 2]`` pixels, distortion included (cv2.projectPoints,
        as ``aniposelib.cameras.Camera.project``)."""
        pixels, _ = cv2.projectPoints(
            np.asarray(points, dtype=np.float64).reshape(-1, 1, 3),
            self.rvec,
            self.tvec,
            self.matrix,
            self.dist,
        )
        return pixels.reshape(-1, 2)


def _look_at(eye: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rodrigues rotation and translation of a camera at ``eye`` aimed at ``target``, level
    (image x horizontal, image y pointing down the world's ``-z``)."""
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    rvec, _ = cv2.Rodrigues(rotation)
    return rvec.ravel(), -rotation @ eye


def _extent_points() -> np.ndarray:
    """Points bounding everything that is ever drawn: circles of ``REACH`` around the arena's
    corners at the floor and above the tallest pose."""
    angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    ring = REACH * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    corners = np.array([[sx, sy] for sx in (-1, 1) for sy in (-1, 1)]) * ARENA
    xy = (corners[:, None] + ring[None]).reshape(-1, 2)
    return np.concatenate([np.column_stack([xy, np.full(len(xy), z)]) for z in (0.0, 6.0)])


def view_names(views: int) -> list[str]:
    """The cameras' names, which are also the view names of the labels and videos."""
    return [f"cam{index}" for index in range(views)]


def label_file(view: str) -> str:
    """The label CSV of one view, as Lightning Pose's multiview configs name them."""
    return f"CollectedData_{view}.csv"


def label_files(views: int) -> list[str]:
    """The label CSVs of a ``views``-camera example, one per view (``data.csv_file``)."""
    return [label_file(view) for view in view_names(views)]


def bbox_file(view: str) -> str:
    """The bounding-box CSV of one view's crops, as Lightning Pose's default multiview config
    names them (``data.bbox_file``)."""
    return f"bboxes_{view}.csv"


def crop_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """``(x, y, h, w)`` of a square crop around keypoints ``[K, 2]`` (hidden ones too, as a
    detector sees the whole animal) with ``CROP_MARGIN`` pixels to spare, at least ``MIN_CROP``
    wide, shifted (and at the frame's size clipped) to lie inside the frame."""
    low = np.floor(pixels.min(axis=0)) - CROP_MARGIN
    high = np.ceil(pixels.max(axis=0)) + CROP_MARGIN
    side = max(MIN_CROP, int((high - low).max()))
    w, h = min(side, WIDTH), min(side, HEIGHT)
    centre = (low + high) / 2
    x = int(np.clip(round(centre[0] - w / 2), 0, WIDTH - w))
    y = int(np.clip(round(centre[1] - h / 2), 0, HEIGHT - h))
    return x, y, h, w


def make_cameras(views: int, rng: np.random.Generator) -> list[Camera]:
    """``views`` cameras spread around the arena at different heights, each with the focal length
    that keeps the whole arena (and any animal in it) inside its ``WIDTH x HEIGHT`` frame."""
    base = rng.uniform(0, 2 * np.pi)
    cameras = []
    for index, name in enumerate(view_names(views)):
        azimuth = base + 2 * np.pi * index / views + rng.uniform(-0.15, 0.15)
        elevation = _ELEVATIONS[index] + rng.uniform(-0.05, 0.05)
        distance = 42.0 + rng.uniform(-3.0, 3.0)
        target = np.array([*rng.uniform(-0.5, 0.5, size=2), 1.5])
        eye = target + distance * np.array(
            [
                np.cos(elevation) * np.cos(azimuth),
                np.cos(elevation) * np.sin(azimuth),
                np.sin(elevation),
            ]
        )
        rvec, tvec = _look_at(eye, target)
        rotation, _ = cv2.Rodrigues(rvec)
        local = _extent_points() @ rotation.T + tvec
        normalised = np.abs(local[:, :2] / local[:, 2:])
        margin = 3.0
        focal = min(
            (WIDTH / 2 - margin) / normalised[:, 0].max(),
            (HEIGHT / 2 - margin) / normalised[:, 1].max(),
        )
        matrix = np.array(
            [
                [focal, 0.0, (WIDTH - 1) / 2],
                [0.0, focal * (1 - rng.uniform(0.0, 0.01)), (HEIGHT - 1) / 2],
                [0.0, 0.0, 1.0],
            ]
        )
        dist = np.array([rng.uniform(-0.12, -0.04), 0.0, 0.0, 0.0, 0.0])  # barrel: stays inside
        cameras.append(Camera(name, matrix, dist, rvec, tvec))
    return cameras


def write_calibration(path: Path, cameras: Sequence[Camera]) -> None:
    """An Anipose calibration TOML (``aniposelib.cameras.CameraGroup.dump``) of ``cameras``."""
    anipose = require("aniposelib.cameras", "multiview", "writing a camera calibration")
    group = anipose.CameraGroup(
        [
            anipose.Camera(
                matrix=c.matrix,
                dist=c.dist,
                size=(WIDTH, HEIGHT),
                rvec=c.rvec,
                tvec=c.tvec,
                name=c.name,
            )
            for c in cameras
        ]
    )
    group.dump(str(path))


# the body surface as quads on a unit sphere (polar angle from +z, azimuth), scaled per pose
_THETA, _PHI = np.meshgrid(np.linspace(0, np.pi, 15), np.linspace(0, 2 * np.pi, 25), indexing="ij")
_SPHERE = np.stack(
    [np.sin(_THETA) * np.cos(_PHI), np.sin(_THETA) * np.sin(_PHI), np.cos(_THETA)], axis=-1
).reshape(-1, 3)
_rows, _cols = np.meshgrid(np.arange(14), np.arange(24), indexing="ij")
_QUADS = np.stack(
    [
        _rows * 25 + _cols,
        (_rows + 1) * 25 + _cols,
        (_rows + 1) * 25 + _cols + 1,
        _rows * 25 + _cols + 1,
    ],
    axis=-1,
).reshape(-1, 4)
_QUAD_CENTRES = _SPHERE[_QUADS].mean(axis=1)
_QUAD_CENTRES /= np.linalg.norm(_QUAD_CENTRES, axis=1, keepdims=True)


def _marker_core(points: np.ndarray, camera: Camera) -> np.ndarray:
    """``[N, 9, 3]`` each keypoint and 8 points on a circle of half its marker's radius around it
    in ``camera``'s image plane: the part of the marker that must show for it to be seen."""
    rotation, _ = cv2.Rodrigues(camera.rvec)
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    ring = np.cos(angles)[:, None] * rotation[0] + np.sin(angles)[:, None] * rotation[1]
    ring = np.concatenate([np.zeros((1, 3)), 0.5 * MARKER_RADIUS * ring])
    return points[:, None] + ring[None]


def occluded_keypoints(pose: Pose3D, camera: Camera) -> np.ndarray:
    """``[K]`` True where ``camera`` cannot see the keypoint: the body, or markers drawn over it,
    cover its centre and the inner half of its marker. (A marker showing more than a sliver is
    seen, and labeled, as a person would.)"""
    points = keypoints_3d(pose)
    eye = camera.center
    core = _marker_core(points, camera)
    behind_body = segment_hits_body(pose, core.reshape(-1, 3), eye).reshape(core.shape[:2])
    # markers are drawn behind the body (where their centre is hidden) or after it, far to near
    behind = behind_body[:, 0]
    distance = np.linalg.norm(points - eye, axis=1)
    later = (behind[:, None] & ~behind[None]) | (
        (behind[:, None] == behind[None]) & (distance[None] < distance[:, None])
    )  # [i, j]: marker j is drawn after marker i
    radius = camera.matrix[0, 0] * MARKER_RADIUS / distance
    pixels, core_pixels = camera.project(points), camera.project(core.reshape(-1, 3))
    gap = np.linalg.norm(core_pixels.reshape(*core.shape[:2], 1, 2) - pixels, axis=-1)
    under_marker = (later[:, None, :] & (gap <= radius)).any(axis=-1)  # [i, sample]
    return (behind_body | under_marker).all(axis=1)


def background(camera: Camera, rng: np.random.Generator) -> np.ndarray:
    """A camera's static view of the empty arena at ``SUPERSAMPLE`` size (RGB uint8): a mottled
    room, the floor a lighter square with grid lines, all in the camera's perspective."""
    size = (WIDTH * SUPERSAMPLE, HEIGHT * SUPERSAMPLE)
    coarse = rng.uniform(40, 110, size=(5, 6, 3)).astype(np.float32)
    image = cv2.resize(coarse, size, interpolation=cv2.INTER_CUBIC)
    image = np.clip(image + rng.normal(0, 6, size=image.shape), 0, 255)
    half = ARENA + REACH
    edge = np.linspace(-1, 1, 21)
    outline = (
        np.concatenate(
            [
                np.column_stack([edge, np.full(21, -1.0)]),
                np.column_stack([np.full(21, 1.0), edge]),
                np.column_stack([edge[::-1], np.full(21, 1.0)]),
                np.column_stack([np.full(21, -1.0), edge[::-1]]),
            ]
        )
        * half
    )
    floor = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(
        floor, [_fixed(_to_canvas(camera.project(_on_floor(outline))))], 255, cv2.LINE_AA, 4
    )
    blend = (floor[..., None] / 255.0) * 0.55
    image = image * (1 - blend) + np.array([170.0, 160.0, 140.0]) * blend
    for along in np.linspace(-1, 1, 7):
        for line in (
            np.column_stack([edge, np.full(21, along)]),
            np.column_stack([np.full(21, along), edge]),
        ):
            pixels = _fixed(_to_canvas(camera.project(_on_floor(line * half))))
            cv2.polylines(image, [pixels], False, (120, 115, 105), 1, cv2.LINE_AA, 4)
    return np.clip(image, 0, 255).astype(np.uint8)


def _on_floor(xy: np.ndarray) -> np.ndarray:
    return np.column_stack([xy, np.zeros(len(xy))])


def _to_canvas(pixels: np.ndarray) -> np.ndarray:
    """Pixel coordinates -> the supersampled canvas (pixel centres stay centres after averaging)."""
    return pixels * SUPERSAMPLE + (SUPERSAMPLE - 1) / 2


def _fixed(points: np.ndarray) -> np.ndarray:
    """Canvas coordinates in cv2's fixed point (4 fractional bits, ``shift=4``)."""
    return np.round(np.asarray(points) * 16).astype(np.int32).reshape(-1, 2)


def render(
    pose: Pose3D, camera: Camera, backdrop: np.ndarray, rng: np.random.Generator, gain: float = 1.0
) -> np.ndarray:
    """One camera's ``HEIGHT x WIDTH`` RGB image of the animal at ``pose`` over ``backdrop``.

    Painter's algorithm: the shadow, then what is behind the body (tail and leg segments and markers whose
    centre :func:`segment_hits_body` finds hidden, so the images agree with the occlusion labels),
    then the body's camera-facing faces, then the rest, each far to near. A marker counts as
    nearer than the tail or leg segment it sits on by its radius.
    """
    image = backdrop.astype(np.float32)
    eye = camera.center
    rotation, center = pose.rotation(), pose.body_center()
    a, b, _ = SEMI_AXES

    angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    shadow_local = np.stack([1.05 * a * np.cos(angles), 1.15 * b * np.sin(angles)], axis=1)
    ch, sh = np.cos(pose.heading), np.sin(pose.heading)
    yaw = np.array([[ch, -sh], [sh, ch]])
    shadow = np.zeros(image.shape[:2], np.uint8)
    shadow_xy = pose.center + shadow_local @ yaw.T
    cv2.fillPoly(
        shadow, [_fixed(_to_canvas(camera.project(_on_floor(shadow_xy))))], 255, cv2.LINE_AA, 4
    )
    image *= 1 - 0.4 * (shadow[..., None] / 255.0)

    # (depth, layer, index, kind, canvas pixels); layer 0 is what the body hides, 1 the body,
    # 2 what is in front of it
    items: list[tuple[float, int, int, str, np.ndarray]] = []
    for kind, line in [("tail", tail_points(pose)), *(("leg", leg) for leg in legs(pose))]:
        middles = (line[1:] + line[:-1]) / 2
        hidden = segment_hits_body(pose, middles, eye)
        pixels = _to_canvas(camera.project(line))
        for i, middle in enumerate(middles):
            depth = float(np.linalg.norm(middle - eye))
            items.append((depth, 0 if hidden[i] else 2, i, kind, pixels[i : i + 2]))
    keypoints = keypoints_3d(pose)
    keypoint_hidden = segment_hits_body(pose, keypoints, eye)
    keypoint_pixels = _to_canvas(camera.project(keypoints))
    for k, name in enumerate(KEYPOINTS):
        depth = float(np.linalg.norm(keypoints[k] - eye)) - MARKER_RADIUS
        items.append((depth, 0 if keypoint_hidden[k] else 2, k, name, keypoint_pixels[k : k + 1]))

    vertices = center + (_SPHERE * SEMI_AXES) @ rotation.T
    vertex_pixels = _to_canvas(camera.project(vertices))
    normals = (_QUAD_CENTRES / SEMI_AXES) @ rotation.T
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    centres = center + (_QUAD_CENTRES * SEMI_AXES) @ rotation.T
    facing = np.sum((eye - centres) * normals, axis=1) > 0
    shade = 0.35 + 0.65 * np.clip(normals @ LIGHT, 0, 1)
    for q in np.flatnonzero(facing):
        items.append(
            (float(np.linalg.norm(centres[q] - eye)), 1, int(q), "body", vertex_pixels[_QUADS[q]])
        )

    focal = float(camera.matrix[0, 0])
    for depth, _, index, kind, pixels in sorted(items, key=lambda item: (item[1], -item[0])):
        if kind == "body":
            colour = tuple(float(v) for v in BODY_COLOUR * shade[index])
            cv2.fillConvexPoly(image, _fixed(pixels), colour, cv2.LINE_8, 4)
        elif kind in ("tail", "leg"):
            thickness = 0.5 if kind == "tail" else 0.7
            width = max(1, round(focal * thickness / depth * SUPERSAMPLE))
            start, end = _fixed(pixels).tolist()
            colour = TAIL_COLOUR if kind == "tail" else LEG_COLOUR
            cv2.line(image, start, end, colour, width, cv2.LINE_AA, 4)
        else:
            radius = focal * MARKER_RADIUS / (depth + MARKER_RADIUS) * SUPERSAMPLE
            centre = _fixed(pixels)[0].tolist()
            cv2.circle(image, centre, round(radius * 16), _COLOURS[kind], -1, cv2.LINE_AA, 4)

    small = cv2.resize(image, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA) * gain
    return np.clip(small + rng.normal(0, 3, size=small.shape), 0, 255).astype(np.uint8)


def random_pose(rng: np.random.Generator) -> Pose3D:
    return Pose3D(
        rng.uniform(-ARENA, ARENA),
        float(rng.uniform(0, 2 * np.pi)),
        float(rng.uniform(-0.2, 0.25)),
        float(rng.uniform(-0.8, 0.8)),
    )


def video_poses(n_frames: int, rng: np.random.Generator) -> list[Pose3D]:
    """A smooth closed path (a Lissajous loop with random phases) with the heading along the
    motion, a slowly rocking body and a wagging tail."""
    phase = rng.uniform(0, 2 * np.pi, size=3)
    t = np.linspace(0, 2 * np.pi, n_frames, endpoint=False)
    x, y = ARENA[0] * np.sin(t + phase[0]), ARENA[1] * np.sin(2 * t + phase[1])
    vx, vy = ARENA[0] * np.cos(t + phase[0]), 2 * ARENA[1] * np.cos(2 * t + phase[1])
    return [
        Pose3D(
            np.array([x[i], y[i]]),
            float(np.arctan2(vy[i], vx[i])),
            float(0.1 + 0.12 * np.sin(3 * t[i] + phase[2])),
            float(0.6 * np.sin(7 * t[i])),
        )
        for i in range(n_frames)
    ]


def multiview_example_config(out_dir: Path, views: Sequence[str], crops: bool = False) -> dict:
    """Lightning Pose's default multiview config (``config_default_multiview.yaml``), key for key,
    with this data set's paths, views and image size, and training short enough for a CPU; with
    ``crops``, its ``bbox_file`` names each view's bounding boxes."""
    max_epochs = 20
    # without crops no bbox_file: the whole frame is the animal's box
    boxes = {"bbox_file": [bbox_file(view) for view in views]} if crops else {}
    return {
        "data": {
            # the frames are 160 x 128 (crops up to 128 x 128); the network sees them at 128 x 128
            "image_resize_dims": {"height": 128, "width": 128},
            "data_dir": str(out_dir),
            "video_dir": str(out_dir / "videos"),
            "csv_file": [label_file(view) for view in views],
            **boxes,
            "view_names": list(views),
            # Lightning Pose's per-frame map of labeled frames to calibration files (it also
            # finds calibration.toml in data_dir by itself)
            "camera_params_file": str(out_dir / CAMERA_PARAMS_FILE),
            "num_keypoints": len(KEYPOINTS),
            "keypoint_names": list(KEYPOINTS),
            # one CSV per camera: nothing mirrored within a file
            "mirrored_column_matches": None,
            # the whole pose: the pca_singleview loss compares all keypoints
            "columns_for_singleview_pca": list(range(len(KEYPOINTS))),
        },
        "training": {
            "imgaug": "dlc",
            "imgaug_3d": True,
            "imgaug_hflip": False,  # Lightning Pose refuses it for multiview models
            "train_batch_size": 8,
            "val_batch_size": 32,
            "test_batch_size": 32,
            "train_prob": 0.95,
            "val_prob": 0.05,
            "train_frames": 1,
            "num_gpus": 1,
            # a random-init backbone has nothing worth freezing: it trains from the first step
            "unfreezing_epoch": 0,
            # 200 labeled frames give 190 training frames, 24 steps per epoch: 480 steps in all
            "min_epochs": max_epochs,
            "max_epochs": max_epochs,
            "log_every_n_steps": 10,
            "check_val_every_n_epoch": 5,
            "ckpt_every_n_epochs": None,
            "early_stopping": False,
            "early_stop_patience": 3,
            "rng_seed_data_pt": 0,
            "rng_seed_model_pt": 0,
            "optimizer": "Adam",
            # 5e-5 (the default) fine-tunes pretrained DINO weights; from random init a ViT needs
            # more to learn in 480 steps, and without warm-up 1e-3 tends to collapse its attention
            "optimizer_params": {"learning_rate": 3e-4},
            "lr_scheduler": "multisteplr",
            "lr_scheduler_params": {
                # the default's 150/200/250 of 300 epochs, scaled to max_epochs
                "multisteplr": {
                    "milestones": [
                        max_epochs // 2,
                        round(max_epochs * 2 / 3),
                        round(max_epochs * 5 / 6),
                    ],
                    "gamma": 0.5,
                },
            },
            "uniform_heatmaps_for_nan_keypoints": True,
            # the default's epochs 40-300 of 300, scaled to max_epochs
            "patch_mask": {
                "init_epoch": round(max_epochs * 40 / 300),
                "final_epoch": max_epochs,
                "init_ratio": 0.0,
                "final_ratio": 0.5,
            },
        },
        "model": {
            "losses_to_use": [],
            "backbone": "vits_dino",
            "backbone_pretrained": False,  # no download: the example trains from random init
            "model_type": "heatmap_multiview_transformer",
            "heatmap_loss_type": "mse",
            "model_name": "synthetic-multiview-example",
            "checkpoint": None,
        },
        # with unsupervised losses, each step also scores 8 consecutive frames per view (32 would
        # quadruple a CPU step)
        "dali": {
            "base": {"train": {"sequence_length": 8}, "predict": {"sequence_length": 96}},
            "context": {"train": {"batch_size": 4}, "predict": {"sequence_length": 96}},
        },
        "losses": {
            "pca_multiview": {"log_weight": 11.0, "components_to_keep": 3, "epsilon": None},
            "pca_singleview": {"log_weight": 11.0, "components_to_keep": 0.99, "epsilon": None},
            "temporal": {"log_weight": 11.0, "epsilon": 20.0, "prob_threshold": 0.05},
            "supervised_reprojection_heatmap_mse": {"log_weight": 3.0},
        },
        "eval": {
            # as in the single-view example: `sweeper predict` runs the videos when asked
            "predict_vids_after_training": False,
            "test_videos_directory": "${data.video_dir}",
            "save_vids_after_training": False,
            "colormap": "cool",
            "confidence_thresh_for_vid": 0.9,
        },
        "callbacks": {
            "anneal_weight": {
                "attr_name": "total_unsupervised_importance",
                "init_val": 0.0,
                "increase_factor": 0.01,
                "final_val": 1.0,
                # the default's 60 of 300 epochs, scaled to max_epochs
                "freeze_until_epoch": round(max_epochs * 60 / 300),
            },
        },
        "hydra": {
            "run": {"dir": "outputs/${now:%Y-%m-%d}/${now:%H-%M-%S}"},
            "sweep": {
                "dir": "multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}",
                "subdir": "${hydra.job.num}",
            },
        },
    }


def _write_png(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _write_occlusion(path: Path, index: Sequence[str], occluded: np.ndarray) -> None:
    """``[N, K]`` mask as a CSV: one row per frame, one 0/1 column per keypoint (1 = hidden)."""
    frame = pd.DataFrame(occluded.astype(np.int8), index=list(index), columns=list(KEYPOINTS))
    frame.to_csv(path)


def _write_points_3d(path: Path, index: Sequence[str], points: np.ndarray) -> None:
    """``[N, K, 3]`` world points in DeepLabCut's 3 header rows, coords ``x, y, z``."""
    columns = pd.MultiIndex.from_tuples(
        [("ground_truth", kp, coord) for kp in KEYPOINTS for coord in ("x", "y", "z")],
        names=["scorer", "bodyparts", "coords"],
    )
    pd.DataFrame(points.reshape(len(points), -1), index=list(index), columns=columns).to_csv(path)


def read_occlusion(path: Path) -> np.ndarray:
    """``[N, K]`` bool mask written by :func:`make_multiview_example_dataset` (True = hidden)."""
    return pd.read_csv(path, index_col=0).to_numpy().astype(bool)


def read_points_3d(path: Path) -> np.ndarray:
    """``[N, K, 3]`` float64 world points of a ``ground_truth/*_3d.csv``."""
    frame = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    return frame.to_numpy(dtype=np.float64).reshape(len(frame), -1, 3)


def _write_truth(
    out_dir: Path, stem: str, index: list[str], cameras: Sequence[Camera], poses: Sequence[Pose3D]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Ground truth of ``poses`` under ``ground_truth/``: ``<stem>_3d.csv``, and per view
    ``<stem>_<view>.csv`` (every keypoint, hidden or not) and ``<stem>_<view>_occluded.csv``.
    Returns each view's ``[N, K, 2]`` pixels and ``[N, K]`` occlusion."""
    truth = out_dir / "ground_truth"
    truth.mkdir(parents=True, exist_ok=True)
    points = np.stack([keypoints_3d(p) for p in poses])
    _write_points_3d(truth / f"{stem}_3d.csv", index, points)
    per_view = {}
    for camera in cameras:
        pixels = camera.project(points.reshape(-1, 3)).reshape(len(poses), len(KEYPOINTS), 2)
        occluded = np.stack([occluded_keypoints(p, camera) for p in poses])
        write_labels(
            truth / f"{stem}_{camera.name}.csv",
            LabeledData(index, pixels.astype(np.float32), list(KEYPOINTS), "ground_truth"),
        )
        _write_occlusion(truth / f"{stem}_{camera.name}_occluded.csv", index, occluded)
        per_view[camera.name] = (pixels, occluded)
    return per_view


def _frames(
    poses: Sequence[Pose3D], camera: Camera, backdrop: np.ndarray, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    for pose in poses:
        yield render(pose, camera, backdrop, rng)


def make_multiview_example_dataset(
    out_dir: str | Path,
    views: int = 3,
    n_frames: int = 200,
    n_video_frames: int = 90,
    seed: int = 0,
    crops: bool = False,
) -> Path:
    """Write a Lightning Pose multiview project into ``out_dir`` and return its ``config.yaml``.

    ``views`` cameras (``cam0``, ``cam1``, ...) film ``n_frames`` random poses (labeled) and a
    ``n_video_frames`` walk (one synchronised video per camera). Deterministic for a given ``seed``.
    With ``crops``, each labeled image is the animal's square box cut out of the frame
    (:func:`crop_box`), its labels in the crop's pixels, and ``bboxes_<view>.csv`` says where each
    crop sits (``data.bbox_file``); the videos and the ground truth stay full frames.

    Layout::

        calibration.toml                      Anipose calibration, camera names = view names
        camera_params.csv                     labeled frame -> calibration file (Lightning Pose)
        CollectedData_<view>.csv              labels; NaN where the body hides the keypoint
        labeled-data/poses_<view>/imgNNNN.png
        bboxes_<view>.csv                     with crops: x, y, h, w of each labeled image
        videos/synthetic_<view>.mp4
        ground_truth/labeled_<view>.csv       every keypoint's pixels, hidden or not
        ground_truth/labeled_<view>_occluded.csv
        ground_truth/labeled_3d.csv           world coordinates (cm)
        ground_truth/synthetic_<view>.csv, synthetic_<view>_occluded.csv, synthetic_3d.csv
        config.yaml
    """
    if not MIN_VIEWS <= views <= MAX_VIEWS:
        raise ValueError(f"views: expected {MIN_VIEWS} to {MAX_VIEWS} cameras, got {views}")
    out_dir = Path(out_dir).resolve()
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    cameras = make_cameras(views, rng)
    write_calibration(out_dir / CALIBRATION_FILE, cameras)
    backdrops = [background(camera, rng) for camera in cameras]

    poses = [random_pose(rng) for _ in range(n_frames)]
    names = [f"img{i:04d}.png" for i in range(n_frames)]
    paths = {
        c.name: [f"labeled-data/{LABELED_SESSION}_{c.name}/{n}" for n in names] for c in cameras
    }
    truth = _write_truth(out_dir, "labeled", paths[cameras[0].name], cameras, poses)
    for camera in cameras:
        (out_dir / "labeled-data" / f"{LABELED_SESSION}_{camera.name}").mkdir(
            parents=True, exist_ok=True
        )
    boxes = {  # [N, 4] x, y, h, w; the whole frame without crops
        c.name: np.array(
            [crop_box(p) if crops else (0, 0, HEIGHT, WIDTH) for p in truth[c.name][0]]
        )
        for c in cameras
    }
    for i, pose in enumerate(poses):
        gain = float(rng.uniform(0.85, 1.15))  # the room's light, the same for every camera
        for camera, backdrop in zip(cameras, backdrops, strict=True):
            x, y, h, w = boxes[camera.name][i]
            image = render(pose, camera, backdrop, rng, gain)[y : y + h, x : x + w]
            _write_png(out_dir / paths[camera.name][i], image)
    for camera in cameras:
        pixels, occluded = truth[camera.name]
        corner = boxes[camera.name][:, None, :2]  # labels are in the crop's pixels
        labels = np.where(occluded[..., None], np.nan, pixels - corner).astype(np.float32)
        if crops:
            pd.DataFrame(
                boxes[camera.name], index=paths[camera.name], columns=["x", "y", "h", "w"]
            ).to_csv(out_dir / bbox_file(camera.name))
        write_labels(
            out_dir / label_file(camera.name),
            LabeledData(paths[camera.name], labels, list(KEYPOINTS), "synthetic"),
        )
    pd.DataFrame({"file": CALIBRATION_FILE}, index=paths[cameras[0].name]).to_csv(
        out_dir / CAMERA_PARAMS_FILE
    )
    # the video ground truth names the frames by number, as for the single-view example
    video = video_poses(n_video_frames, rng)
    _write_truth(out_dir, VIDEO_SESSION, [str(i) for i in range(n_video_frames)], cameras, video)
    for camera, backdrop in zip(cameras, backdrops, strict=True):
        write_video(
            out_dir / "videos" / f"{VIDEO_SESSION}_{camera.name}.mp4",
            _frames(video, camera, backdrop, rng),
        )
    config = out_dir / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            multiview_example_config(out_dir, [c.name for c in cameras], crops), sort_keys=False
        )
    )
    return config
