"""Pretrained weights: cache, explicit paths, mmpose key mapping, ViT resampling and errors.

All offline: every test sets ``POSE_SWEEPER_OFFLINE=1`` and a temporary cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from pose.errors import WeightsError
from pose.models import build_backbone, build_model, load_backbone_weights, weights_cache_dir


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("POSE_SWEEPER_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("POSE_SWEEPER_OFFLINE", "1")
    return tmp_path


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in b)


def test_cached_safetensors_are_loaded(cache: Path) -> None:
    assert weights_cache_dir() == cache
    source = timm.create_model("resnet18", num_classes=0).state_dict()
    save_file(source, str(cache / "resnet18.safetensors"))
    model = build_model("resnet18", "heatmap", 2, (64, 64), 2, pretrained=True)
    assert _same(model.backbone.model.state_dict(), source)


def test_mmpose_checkpoint_keys_are_mapped(cache: Path) -> None:
    resnet = timm.create_model("resnet50", num_classes=0).state_dict()
    checkpoint = {
        "meta": {"epoch": 210},
        "state_dict": {
            **{f"backbone.{k}": v for k, v in resnet.items()},
            "keypoint_head.final_layer.weight": torch.randn(17, 256, 1, 1),
        },
    }
    torch.save(checkpoint, cache / "resnet50_animal_ap10k.pth")
    backbone = build_backbone("resnet50_animal_ap10k", pretrained=True, image_hw=(64, 64))
    assert _same(backbone.model.state_dict(), resnet)


def test_explicit_path_wins_and_aliases_share_the_cache(cache: Path, tmp_path: Path) -> None:
    resnet = timm.create_model("resnet50", num_classes=0).state_dict()
    path = tmp_path / "elsewhere.pth"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in resnet.items()}}, path)
    backbone = build_backbone("resnet50_human_top_res", pretrained=False, image_hw=(64, 64))
    report = load_backbone_weights(backbone, "resnet50_human_top_res", path)
    assert report.path == path and not report.missing
    assert _same(backbone.model.state_dict(), resnet)


def test_vit_weights_are_resampled_to_the_image_and_patch_size(cache: Path) -> None:
    # DINOv2 weights come with 14-pixel patches at 518 px; we build 16-pixel patches at 128x96
    source = timm.create_model("vit_small_patch14_dinov2", num_classes=0).state_dict()
    save_file(source, str(cache / "vits_dinov2.safetensors"))
    backbone = build_backbone("vits_dinov2", pretrained=True, image_hw=(128, 96))
    loaded = backbone.model.state_dict()
    assert loaded["patch_embed.proj.weight"].shape[-1] == 16
    assert torch.equal(loaded["blocks.3.mlp.fc1.weight"], source["blocks.3.mlp.fc1.weight"])
    assert backbone(torch.randn(1, 3, 128, 96)).shape == (1, 384, 8, 6)


def test_sam_position_tables_are_resampled(cache: Path) -> None:
    source = timm.create_model("samvit_base_patch16", num_classes=0, img_size=256).state_dict()
    save_file(source, str(cache / "vitb_sam.safetensors"))
    backbone = build_backbone("vitb_sam", pretrained=True, image_hw=(128, 128))
    loaded = backbone.model.state_dict()
    assert loaded["pos_embed"].shape == (1, 8, 8, 768)
    assert torch.equal(loaded["blocks.0.attn.qkv.weight"], source["blocks.0.attn.qkv.weight"])


def test_missing_file_offline_names_backbone_and_cache_path(cache: Path) -> None:
    with pytest.raises(WeightsError) as err:
        build_backbone("resnet50_animal_ap10k", pretrained=True, image_hw=(64, 64))
    message = str(err.value)
    assert "resnet50_animal_ap10k" in message
    assert str(cache / "resnet50_animal_ap10k.pth") in message
    assert "model.backbone_pretrained: false" in message and "\n" not in message


def test_wrong_shapes_are_an_error(cache: Path) -> None:
    # a ResNet-18 checkpoint placed where ResNet-50 weights belong
    wrong = timm.create_model("resnet18", num_classes=0).state_dict()
    save_file(wrong, str(cache / "resnet50.safetensors"))
    with pytest.raises(WeightsError, match="wrong shape"):
        build_backbone("resnet50", pretrained=True, image_hw=(64, 64))


def test_unrelated_checkpoint_is_an_error(cache: Path) -> None:
    torch.save({"state_dict": {"decoder.weight": torch.zeros(3)}}, cache / "resnet18.pth")
    with pytest.raises(WeightsError, match="no key matches"):
        build_backbone("resnet18", pretrained=True, image_hw=(64, 64))


def test_timm_tag_weights_are_fetched_once_into_the_cache(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSE_SWEEPER_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    source = timm.create_model("resnet18").state_dict()
    calls: list[tuple[str, bool]] = []
    real_create = timm.create_model

    def fake_create(name: str, pretrained: bool = False, **kwargs: object) -> torch.nn.Module:
        calls.append((name, pretrained))
        model = real_create(name.split(".")[0], **kwargs)
        if pretrained:  # stands in for timm's hub download
            model.load_state_dict(source)
        return model

    monkeypatch.setattr(timm, "create_model", fake_create)
    backbone = build_backbone("resnet18", pretrained=True, image_hw=(64, 64))
    assert ("resnet18.tv_in1k", True) in calls and (cache / "resnet18.safetensors").is_file()
    assert _same(backbone.model.state_dict(), {k: v for k, v in source.items() if "fc" not in k})


def test_failed_download_is_one_actionable_line(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSE_SWEEPER_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def no_network(url: str, dst: str, **kwargs: object) -> None:
        raise OSError("Name or service not known\nmore detail")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(WeightsError) as err:
        build_backbone("resnet50_human_hand", pretrained=True, image_hw=(64, 64))
    message = str(err.value)
    assert "Name or service not known" in message and "\n" not in message
    assert str(cache / "resnet50_human_hand.pth") in message
