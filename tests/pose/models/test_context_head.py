"""The context head (heatmap_mhcrnn): shapes, per-frame split, and the more-confident-head choice."""

from __future__ import annotations

import warnings

import pytest
import torch

from pose.models import MODEL_TYPES
from pose.models.pose_model import build_model


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("resnet18", "heatmap_mhcrnn", 3, (64, 64), 2, pretrained=False).eval()


@torch.inference_mode()
def test_windows_give_static_and_context_maps(model: torch.nn.Module) -> None:
    windows = torch.randn(2, 5, 3, 64, 64)
    out = model(windows)
    assert out.shape == (2, 2, 3, 16, 16)
    assert model.context_offsets == (-2, -1, 0, 1, 2)
    # the static head sees the labeled (middle) frame only
    other = windows.clone()
    other[:, [0, 1, 3, 4]] = torch.randn(2, 4, 3, 64, 64)
    changed = model(other)
    assert torch.allclose(changed[:, 0], out[:, 0], atol=1e-5)
    assert not torch.allclose(changed[:, 1], out[:, 1], atol=1e-3)


@torch.inference_mode()
def test_encode_once_per_frame_then_combine_equals_forward(model: torch.nn.Module) -> None:
    frames = torch.randn(7, 3, 64, 64)
    codes = model.encode(frames)
    assert codes.shape == (7, 3, 3, 16, 16)
    index = torch.tensor([[0, 1, 2, 3, 4], [2, 3, 4, 5, 6]])
    assert torch.allclose(model.combine(codes[index]), model(frames[index]), atol=1e-4)
    with pytest.raises(ValueError, match="windows of 5 frames"):
        model.combine(codes[:3].unsqueeze(0))


def _decode(output: torch.Tensor, model_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode as ``model_type`` does for 64x64 images at heatmap stride 4."""
    return MODEL_TYPES.get(model_type)((64, 64), 2).decode(output)


def _peaked(h: int, w: int, row: int, col: int, height: float) -> torch.Tensor:
    logits = torch.zeros(h, w)
    logits[row, col] = height
    return logits


def test_decode_keeps_the_more_confident_head() -> None:
    out = torch.zeros(1, 2, 2, 16, 16)
    out[0, 0, 0] = _peaked(16, 16, 4, 5, 12.0)  # keypoint 0: static sharp
    out[0, 1, 0] = _peaked(16, 16, 10, 10, 3.0)  # context vague
    out[0, 0, 1] = _peaked(16, 16, 2, 2, 3.0)  # keypoint 1: static vague
    out[0, 1, 1] = _peaked(16, 16, 12, 6, 12.0)  # context sharp
    xy, conf = _decode(out, "heatmap_mhcrnn")
    static_xy, static_conf = _decode(out[:, 0], "heatmap")
    context_xy, context_conf = _decode(out[:, 1], "heatmap")
    assert torch.allclose(xy[0, 0], static_xy[0, 0]) and torch.allclose(xy[0, 1], context_xy[0, 1])
    assert conf[0, 0] == static_conf[0, 0] and conf[0, 1] == context_conf[0, 1]
    assert conf.min() > 0.9


def test_context_model_starts_from_a_single_frame_checkpoint(tmp_path) -> None:
    """Both heads of a context model begin as the single-frame model it starts from: the same
    logits on any window (the labeled frame's), so the same keypoints, and nothing to unlearn."""
    from pose.train.run import load_checkpoint_weights

    torch.manual_seed(1)
    single = build_model("resnet18", "heatmap", 3, (64, 64), 2, pretrained=False).eval()
    path = tmp_path / "single.ckpt"
    # as Lightning saves it: the module's parameters under "model."
    torch.save({"state_dict": {f"model.{k}": v for k, v in single.state_dict().items()}}, path)
    torch.manual_seed(2)
    context = build_model("resnet18", "heatmap_mhcrnn", 3, (64, 64), 2, pretrained=False).eval()
    step_before = context.head.step_forward[0].weight.clone()
    # the recurrent steps' first three layers (of four, weight and bias, two steps) start fresh
    with pytest.warns(UserWarning, match="12 of .* parameters are not in it .*step_forward.0"):
        load_checkpoint_weights(context, path)
    for (name, value), (_, expected) in zip(
        context.backbone.state_dict().items(), single.backbone.state_dict().items(), strict=True
    ):
        assert torch.equal(value, expected), name
    for (name, value), (_, expected) in zip(
        context.head.static.state_dict().items(), single.head.state_dict().items(), strict=True
    ):
        assert torch.equal(value, expected), name
    assert torch.equal(context.head.step_forward[0].weight, step_before)  # no counterpart: kept
    assert not context.head.step_forward[-1].weight.any()  # the step passes nothing on yet

    windows = torch.randn(2, 5, 3, 64, 64)  # neighbours unlike the labeled frame
    with torch.inference_mode():
        logits = context(windows)
        expected = single(windows[:, 2])
    assert torch.equal(logits[:, 0], expected)
    assert torch.allclose(logits[:, 1], expected, atol=1e-6)
    xy, _ = _decode(logits, "heatmap_mhcrnn")
    single_xy, _ = _decode(expected, "heatmap")
    assert torch.allclose(xy, single_xy, atol=1e-4)

    # the context head still learns: the zeroed step's gradient is not zero
    context.train()
    context(windows)[:, 1].square().mean().backward()
    assert context.head.step_forward[-1].weight.grad.abs().sum() > 0


def test_single_frame_model_takes_a_context_models_static_head(tmp_path) -> None:
    from pose.train.run import load_checkpoint_weights

    context = build_model("resnet18", "heatmap_mhcrnn", 3, (64, 64), 2, pretrained=False)
    path = tmp_path / "context.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in context.state_dict().items()}}, path)
    single = build_model("resnet18", "heatmap", 3, (64, 64), 2, pretrained=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every parameter is found: no warning
        load_checkpoint_weights(single, path)
    for (name, value), (_, expected) in zip(
        single.head.state_dict().items(), context.head.static.state_dict().items(), strict=True
    ):
        assert torch.equal(value, expected), name


def test_context_model_refuses_single_frames(model: torch.nn.Module) -> None:
    with pytest.raises(
        ValueError, match=r"windows of frames \[B, T, 3, H, W\], got \(2, 3, 64, 64\)"
    ):
        model(torch.zeros(2, 3, 64, 64))
