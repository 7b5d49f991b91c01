"""Train Lightning Pose itself on the accuracy bench's config; run under an environment with LP.

bench/train_accuracy.py --lp-python PYTHON runs this script with that interpreter, so Lightning Pose
and Pose Sweeper are measured on the same machine, data split, seeds and epochs. It imports nothing
from this project (LP's environment pins its own OmegaConf): the config is LP's mirror-mouse example
with the bench's base config merged over it, and the errors are averaged like ours (over every
labeled keypoint of a split). Prints one JSON line: {"pixel_error": {split: px}, "wall_seconds": s, "val_curve": [[epoch, rmse]]}
(the curve is LP's logged ``val_supervised_rmse``, read from the tb_logs/ it writes into its output directory).

    PYTHON bench/lp_reference.py --peer-configs P --data-dir D --output-dir O [--base-config C]
        [--epochs N] [--seed S] [--max-minutes M] [--predict-video V] [--override KEY=VALUE ...]

Without --base-config LP's example config is trained as it is (but for the overrides); --epochs
sets min and max epochs (and one milestone at the end); --max-minutes stops training at that wall
time (Lightning's ``max_time``; ``min_epochs`` no longer holds it), after which LP evaluates its
best checkpoint as usual;
--predict-video writes LP's predictions of every frame of V, one by one through LP's own
``Model.predict_frame`` (OpenCV preprocessing; LP's DALI video path needs a GPU), as a DLC-style
CSV ``O/video_preds/<stem>.csv``, and adds ``video_csv`` and ``video_seconds`` to the JSON line.

An environment for it (LP's DALI dependency is only needed for its unsupervised losses and videos):

    python -m venv --system-site-packages lp-env
    lp-env/bin/pip install --no-deps lightning-pose==2.4.3
    lp-env/bin/pip install hydra-core kornia jaxtyping aniposelib h5py "moviepy>=2" tensorboard \
        safetensors transformers "lightning>=2.5,<2.6" "pytorch-lightning>=2.5,<2.6"
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

PEER_CONFIG = "lightning-pose_config_mirror-mouse-example.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-config", type=Path)
    parser.add_argument("--peer-configs", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--max-minutes", type=float)
    parser.add_argument("--predict-video", type=Path)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--override", action="append", default=[], help="dotted KEY=VALUE (YAML)")
    args = parser.parse_args()

    # LP 2.4.3 reloads its own freshly written checkpoint with Lightning's torch.load, whose
    # default became weights_only=True in torch 2.6 and refuses LP's pickled hyperparameters.
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    import numpy as np
    import pandas as pd
    import yaml
    from lightning_pose.train import train
    from omegaconf import OmegaConf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = OmegaConf.load(args.peer_configs / PEER_CONFIG)
    if args.base_config is not None:
        cfg = OmegaConf.merge(cfg, OmegaConf.load(args.base_config))
    cfg.data.data_dir = str(args.data_dir)
    cfg.data.video_dir = str(args.data_dir / "videos")
    if args.epochs is not None:
        cfg.training.max_epochs = cfg.training.min_epochs = args.epochs
        # LP requires milestones <= max_epochs; one at the last epoch never changes the rate.
        cfg.training.lr_scheduler_params.multisteplr.milestones = [args.epochs]
    if args.seed is not None:
        cfg.training.rng_seed_model_pt = args.seed
    if args.max_minutes is not None:
        _stop_training_after(args.max_minutes)
    for override in args.override:
        key, value = override.split("=", 1)
        OmegaConf.update(cfg, key, yaml.safe_load(value), merge=False)
    cfg.eval.predict_vids_after_training = False
    cfg.eval.save_vids_after_training = False

    start = time.perf_counter()
    model = train(cfg, args.output_dir)
    wall = time.perf_counter() - start
    extra: dict[str, object] = {}
    if args.predict_video is not None:
        start = time.perf_counter()
        extra["video_csv"] = str(_predict_video(model, args.predict_video, args.output_dir))
        extra["video_seconds"] = time.perf_counter() - start
    table = pd.read_csv(args.output_dir / "predictions_pixel_error.csv", index_col=0)
    errors = {
        str(split): float(np.nanmean(rows.drop(columns="set").to_numpy(float)))
        for split, rows in table.groupby("set")
    }
    curve = []
    for events in sorted((args.output_dir / "tb_logs").rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        if "val_supervised_rmse" in acc.Tags()["scalars"]:
            epochs = (
                {s.step: s.value for s in acc.Scalars("epoch")}
                if "epoch" in acc.Tags()["scalars"]
                else {}
            )
            for s in acc.Scalars("val_supervised_rmse"):
                curve.append([int(epochs.get(s.step, s.step)) + 1, float(s.value)])
    print(json.dumps({"pixel_error": errors, "wall_seconds": wall, "val_curve": curve, **extra}))


def _stop_training_after(minutes: float) -> None:
    """Every Trainer LP builds stops at ``minutes`` of wall time (Lightning's ``max_time``);
    its ``min_epochs`` would outrank the time limit, so it is dropped."""
    from datetime import timedelta

    import lightning.pytorch as pl

    class BudgetTrainer(pl.Trainer):  # type: ignore[misc]
        def __init__(self, *a: object, **kw: object) -> None:
            kw["max_time"] = timedelta(minutes=minutes)
            kw["min_epochs"] = kw["min_steps"] = None
            super().__init__(*a, **kw)

    pl.Trainer = BudgetTrainer  # LP's train.py looks pl.Trainer up when it trains


def _predict_video(model: object, video: Path, out: Path) -> Path:
    """LP's prediction of every frame of ``video`` as a DLC-style CSV (scorer, bodyparts, coords)."""
    import cv2
    import numpy as np
    import pandas as pd

    names = list(model.cfg.data.keypoint_names)  # type: ignore[attr-defined]
    capture = cv2.VideoCapture(str(video))
    rows = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        pred = model.predict_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))  # type: ignore[attr-defined]
        xy, conf = np.asarray(pred["keypoints"]), np.asarray(pred["confidence"])
        rows.append(np.column_stack([xy, conf]).reshape(-1))
    capture.release()
    columns = pd.MultiIndex.from_product(
        [["lightning-pose"], names, ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"],
    )
    path = out / "video_preds" / f"{video.stem}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(np.array(rows), columns=columns).to_csv(path)
    return path


if __name__ == "__main__":
    main()
