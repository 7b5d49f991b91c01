"""Train Lightning Pose itself on the accuracy bench's config; run under an environment with LP.

bench/train_accuracy.py --lp-python PYTHON runs this script with that interpreter, so Lightning Pose
and Pose Sweeper are measured on the same machine, data split, seeds and epochs. It imports nothing
from this project (LP's environment pins its own OmegaConf): the config is LP's mirror-mouse example
with the bench's base config merged over it, and the errors are averaged like ours (over every
labeled keypoint of a split). Prints one JSON line: {"pixel_error": {split: px}, "wall_seconds": s, "val_curve": [[epoch, rmse]]}
(the curve is LP's logged ``val_supervised_rmse``, read from the tb_logs/ it writes into its output directory).

    PYTHON bench/lp_reference.py --base-config C --peer-configs P --data-dir D --epochs N --seed S \
        --output-dir O [--override KEY=VALUE ...]

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
    parser.add_argument("--base-config", type=Path, required=True)
    parser.add_argument("--peer-configs", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
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

    cfg = OmegaConf.merge(
        OmegaConf.load(args.peer_configs / PEER_CONFIG), OmegaConf.load(args.base_config)
    )
    cfg.data.data_dir = str(args.data_dir)
    cfg.data.video_dir = str(args.data_dir / "videos")
    cfg.training.max_epochs = cfg.training.min_epochs = args.epochs
    cfg.training.rng_seed_model_pt = args.seed
    # LP requires milestones <= max_epochs; one at the last epoch never changes the rate.
    cfg.training.lr_scheduler_params.multisteplr.milestones = [args.epochs]
    for override in args.override:
        key, value = override.split("=", 1)
        OmegaConf.update(cfg, key, yaml.safe_load(value), merge=False)
    cfg.eval.predict_vids_after_training = False
    cfg.eval.save_vids_after_training = False

    start = time.perf_counter()
    train(cfg, args.output_dir)
    wall = time.perf_counter() - start
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
    print(json.dumps({"pixel_error": errors, "wall_seconds": wall, "val_curve": curve}))


if __name__ == "__main__":
    main()
