"""Typed schema of a Lightning Pose ``config.yaml``.

Every key of ``shared/spec/config_reference.rst`` is a field here with the spec's default, plus the
keys real Lightning Pose configs carry beyond the spec (``training.imgaug_hflip``, step-based training,
multiview keys, ``callbacks.anneal_weight``, ``hydra``). OmegaConf merges the user's file into these
dataclasses, which rejects unknown keys and values of the wrong type; rules that span several keys live
in :mod:`pose.config.validate`.

Fields typed ``Any`` accept several YAML shapes (``train_frames`` is a float fraction or an int count,
``csv_file`` a path or a list of paths, ``imgaug`` a pipeline name or a custom pipeline mapping); their
types are checked by the validator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ImageResizeDims:
    height: int | None = None
    width: int | None = None

    @property
    def hw(self) -> tuple[int, int]:
        """(height, width); both are filled once a config is loaded (null means the default)."""
        assert self.height is not None and self.width is not None, (
            "config not loaded via load_config"
        )
        return self.height, self.width


@dataclass
class DataConfig:
    image_resize_dims: ImageResizeDims = field(default_factory=ImageResizeDims)
    data_dir: str = "???"
    video_dir: str | None = None
    csv_file: Any = "CollectedData.csv"
    downsample_factor: int = 2
    num_keypoints: int | None = None
    keypoint_names: list[str] | None = None
    mirrored_column_matches: Any = None
    columns_for_singleview_pca: list[int] | None = None
    # where each labeled image (a crop) sits in its full frame: a file, or one per view
    bbox_file: Any = None
    # multiview keys (Lightning Pose multiview configs)
    view_names: list[str] | None = None
    camera_params_file: str | None = None


@dataclass
class MultiStepLRParams:
    milestones: list[int] | None = None
    milestone_steps: list[int] | None = None
    gamma: float = 0.5


@dataclass
class LRSchedulerParams:
    multisteplr: MultiStepLRParams = field(default_factory=MultiStepLRParams)


@dataclass
class OptimizerParams:
    learning_rate: float = 1e-3


@dataclass
class PatchMaskConfig:
    init_epoch: int = 40
    final_epoch: int = 300
    init_ratio: float = 0.0
    final_ratio: float = 0.0


@dataclass
class TrainingConfig:
    imgaug: Any = "dlc"
    imgaug_hflip: bool = False
    # multiview: 3D augmentation when the rig is calibrated; null (absent) means on, as in Lightning Pose
    imgaug_3d: bool | None = None
    train_batch_size: int = 16
    val_batch_size: int = 32
    test_batch_size: int = 32
    train_prob: float = 0.95
    val_prob: float = 0.05
    train_frames: Any = 1
    num_gpus: int = 1
    num_workers: int | None = None
    # epoch-based training (the spec's) ...
    unfreezing_epoch: int | None = None
    min_epochs: int | None = None
    max_epochs: int | None = None
    # ... or step-based training (Lightning Pose extension); mixing the two is an error
    unfreezing_step: int | None = None
    min_steps: int | None = None
    max_steps: int | None = None
    log_every_n_steps: int = 10
    check_val_every_n_epoch: int = 5
    ckpt_every_n_epochs: int | None = None
    early_stopping: bool = False
    early_stop_patience: int = 3
    rng_seed_data_pt: int = 0
    rng_seed_model_pt: int = 0
    optimizer: str = "Adam"
    optimizer_params: OptimizerParams = field(default_factory=OptimizerParams)
    lr_scheduler: str = "multisteplr"
    lr_scheduler_params: LRSchedulerParams = field(default_factory=LRSchedulerParams)
    uniform_heatmaps_for_nan_keypoints: bool = True
    accumulate_grad_batches: int = 1
    patch_mask: PatchMaskConfig = field(default_factory=PatchMaskConfig)
    # "auto" picks bf16 autocast where the device supports it (GPU, CPU with bf16), else fp32
    precision: str = "auto"

    @property
    def step_based(self) -> bool:
        """True when training length is counted in steps (``max_steps``) rather than epochs."""
        return self.max_steps is not None and self.max_epochs is None


@dataclass
class ModelConfig:
    losses_to_use: list[str] = field(default_factory=list)
    backbone: str = "resnet50_animal_ap10k"
    backbone_pretrained: bool = True
    # explicit pretrained-weights file for the backbone (else the weights cache); an extension
    backbone_weights: str | None = None
    model_type: str = "heatmap"
    heatmap_loss_type: str = "mse"
    model_name: str = "test"
    checkpoint: str | None = None


@dataclass
class DaliTrainSeq:
    sequence_length: int = 32


@dataclass
class DaliPredictSeq:
    sequence_length: int = 96


@dataclass
class DaliContextTrain:
    batch_size: int = 16


@dataclass
class DaliBase:
    train: DaliTrainSeq = field(default_factory=DaliTrainSeq)
    predict: DaliPredictSeq = field(default_factory=DaliPredictSeq)


@dataclass
class DaliContext:
    train: DaliContextTrain = field(default_factory=DaliContextTrain)
    predict: DaliPredictSeq = field(default_factory=DaliPredictSeq)


@dataclass
class DaliConfig:
    base: DaliBase = field(default_factory=DaliBase)
    context: DaliContext = field(default_factory=DaliContext)


@dataclass
class PCAMultiviewLoss:
    log_weight: float = 11.0
    components_to_keep: int = 3
    epsilon: float | None = None


@dataclass
class PCASingleviewLoss:
    log_weight: float = 11.0
    components_to_keep: Any = 0.99
    epsilon: float | None = None


@dataclass
class TemporalLoss:
    log_weight: float = 11.0
    epsilon: Any = 20.0
    prob_threshold: float = 0.05


@dataclass
class ReprojectionLoss:
    # null (as when the section is absent in Lightning Pose) leaves the loss off
    log_weight: float | None = None


@dataclass
class LossesConfig:
    pca_multiview: PCAMultiviewLoss = field(default_factory=PCAMultiviewLoss)
    pca_singleview: PCASingleviewLoss = field(default_factory=PCASingleviewLoss)
    temporal: TemporalLoss = field(default_factory=TemporalLoss)
    supervised_reprojection_heatmap_mse: ReprojectionLoss = field(default_factory=ReprojectionLoss)


@dataclass
class EvalConfig:
    predict_vids_after_training: bool = True
    test_videos_directory: str | None = None
    save_vids_after_training: bool = False
    colormap: str = "cool"
    confidence_thresh_for_vid: float = 0.9
    hydra_paths: list[str] = field(default_factory=list)


@dataclass
class AnnealWeight:
    attr_name: str = "total_unsupervised_importance"
    init_val: float = 0.0
    increase_factor: float = 0.01
    final_val: float = 1.0
    freeze_until_epoch: int = 0


@dataclass
class CallbacksConfig:
    anneal_weight: AnnealWeight = field(default_factory=AnnealWeight)


@dataclass
class PoseConfig:
    """A whole config: the six sections of the spec plus ``callbacks`` and an unused ``hydra``."""

    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    dali: DaliConfig = field(default_factory=DaliConfig)
    losses: LossesConfig = field(default_factory=LossesConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
    hydra: Any = None


# Spec defaults for the epoch-based keys, applied when a config uses neither mode explicitly.
EPOCH_DEFAULTS = {"unfreezing_epoch": 20, "min_epochs": 300, "max_epochs": 300}
SUPPORTED_RESIZE_DIMS = (64, 128, 256, 384, 512)
