"""Load a trained model from its outputs and predict keypoints on arbitrary image files.

Used wherever a model leaves the training run: the MLflow pyfunc of a promoted model, and
prediction from a training output directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from pose.config import PoseConfig, load_config
from pose.data.dataset import ImageCache
from pose.data.heatmaps import rescale_pixels
from pose.errors import DataError
from pose.models.pose_model import build_model_for
from pose.models.weights import read_state_dict
from pose.train.module import PoseLightningModule
from pose.train.precision import autocast, resolve_precision

if TYPE_CHECKING:
    from pose.predict.label_free import LabelFreeMetrics


@dataclass
class TrainedModel:
    """A trained network ready for inference, with the config it was trained from."""

    module: PoseLightningModule
    cfg: PoseConfig
    precision: str
    # fitted from the training labels: video prediction then writes the label-free metrics
    label_free: LabelFreeMetrics | None = None

    @property
    def keypoint_names(self) -> list[str]:
        return list(self.cfg.data.keypoint_names or [])


def load_trained(
    config_path: str | Path, checkpoint_path: str | Path, device: str | None = None
) -> TrainedModel:
    """Rebuild the model of a resolved ``config.yaml`` and load its weights-only checkpoint."""
    cfg = load_config(config_path)
    if not cfg.data.keypoint_names:
        raise DataError(f"{config_path}: data.keypoint_names is empty; expected a resolved config")
    model = build_model_for(cfg, pretrained=False)  # the checkpoint holds every weight
    module = PoseLightningModule(model, cfg)
    state = read_state_dict(Path(checkpoint_path), "a trained model")
    module.load_state_dict(state)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    module.to(device).eval()
    precision = resolve_precision("auto", "gpu" if device.startswith("cuda") else "cpu")
    return TrainedModel(module, cfg, precision)


@torch.inference_mode()
def predict_images(
    trained: TrainedModel, image_paths: Sequence[str | Path], batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints ``[N, K, 2]`` in original-image pixels and likelihoods ``[N, K]`` for image files.

    Context models read each image's neighbouring frames beside it when they exist (see
    :mod:`pose.data.context`); an image without them is its own context.
    """
    module = trained.module
    offsets = module.model.context_offsets
    step = max(1, batch_size // len(offsets)) if offsets else batch_size  # frames per batch
    hw = trained.cfg.data.image_resize_dims.hw
    k = len(trained.keypoint_names)
    xys, confs = [np.zeros((0, k, 2), np.float32)], [np.zeros((0, k), np.float32)]
    paths = [str(p) for p in image_paths]
    for start in range(0, len(paths), step):
        cache = ImageCache(Path(), paths[start : start + step], hw, offsets)
        rows = np.arange(len(cache.windows))
        images = torch.from_numpy(np.moveaxis(cache.take(rows), -1, -3)).to(module.device)
        scale = torch.from_numpy(cache.scale(rows)).to(module.device)
        with autocast(module.device, trained.precision):
            output = module(images)
        xy, conf = module.model.kind.decode(output)
        xys.append(rescale_pixels(xy.float(), scale[:, None, :]).cpu().numpy())
        confs.append(conf.float().cpu().numpy())
    return np.concatenate(xys), np.concatenate(confs)
