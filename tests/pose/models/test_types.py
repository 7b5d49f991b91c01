"""Every registered model type: its output, loss, decoding and window agree with each other."""

from __future__ import annotations

import pytest
import torch

from pose.data.heatmaps import make_heatmaps
from pose.models import MODEL_TYPES, build_model, normalize_images

IMAGE_HW = (64, 96)


def _views(kind_name: str) -> int:
    """Two cameras for a model type that trains on several only, else one."""
    return 1 if MODEL_TYPES.get(kind_name).single_view else 2


def _backbone(kind_name: str) -> str:
    return "vits_dino" if MODEL_TYPES.get(kind_name).backbone_readouts else "resnet18"


def _inputs(kind_name: str, batch: int = 2) -> torch.Tensor:
    window = MODEL_TYPES.get(kind_name).context_offsets
    views = _views(kind_name)
    shape: tuple[int, ...] = (batch, 3, *IMAGE_HW)
    if window:
        shape = (batch, len(window), 3, *IMAGE_HW)
    elif views > 1:
        shape = (batch, views, 3, *IMAGE_HW)
    return normalize_images(torch.randint(0, 256, shape, dtype=torch.uint8))


@pytest.mark.parametrize("name", list(MODEL_TYPES))
def test_forward_loss_backward_decode(name: str) -> None:
    torch.manual_seed(0)
    views = _views(name)
    model = build_model(_backbone(name), name, 3, IMAGE_HW, 2, pretrained=False, num_views=views)
    assert model.kind.name == model.model_type == name
    output = model(_inputs(name))
    if model.heatmap_hw is not None:
        assert output.shape[-2:] == model.heatmap_hw == (16, 24)
    keypoints = torch.tensor([[[10.0, 20.0], [50.0, 40.0], [float("nan")] * 2] * views] * 2)
    loss = model.kind.supervised_loss(output, keypoints)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(p.grad is not None for p in model.head.parameters() if p.requires_grad)
    xy, confidence = model.kind.decode(output.detach())
    assert xy.shape == (2, 3 * views, 2) and confidence.shape == (2, 3 * views)
    assert ((confidence >= 0) & (confidence <= 1)).all()
    assert (xy[..., 0] >= -0.5).all() and (xy[..., 0] <= IMAGE_HW[1] - 0.5).all()
    assert (xy[..., 1] >= -0.5).all() and (xy[..., 1] <= IMAGE_HW[0] - 0.5).all()


@pytest.mark.parametrize("name", [n for n in MODEL_TYPES if n != "regression"])
def test_heatmap_types_decode_their_own_targets_and_cost_least_there(name: str) -> None:
    """Logits that are the log of the Gaussian targets decode to the keypoints, at a lower loss
    than the same maps shifted by a few cells."""
    kind = MODEL_TYPES.get(name)(IMAGE_HW, 2, heatmap_loss="kl")
    keypoints = torch.tensor([[[10.3, 20.6], [50.0, 41.2]]])
    logits = make_heatmaps(keypoints, (16, 24), 4).clamp_min(1e-12).log()
    shifted = logits.roll(3, dims=-1)
    if kind.context_offsets is not None:  # static and context heads
        logits, shifted = torch.stack([logits] * 2, 1), torch.stack([shifted] * 2, 1)
    xy, _ = kind.decode(logits)
    assert torch.allclose(xy, keypoints, atol=0.25)  # sub-pixel: within 1/16 of a 4-pixel cell
    assert kind.supervised_loss(logits, keypoints) < 1e-3
    assert kind.supervised_loss(shifted, keypoints) > 0.5


def test_regression_decodes_normalized_coordinates_to_pixels() -> None:
    kind = MODEL_TYPES.get("regression")(IMAGE_HW, 2)
    output = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.5, 0.25]]])
    xy, confidence = kind.decode(output)
    assert torch.allclose(xy, torch.tensor([[[0.0, 0.0], [95.0, 63.0], [47.5, 15.75]]]))
    assert torch.equal(confidence, torch.ones(1, 3))
    assert kind.supervised_loss(output, xy) == 0


def test_context_type_averages_its_heads_and_keeps_the_more_confident() -> None:
    heatmap = MODEL_TYPES.get("heatmap")(IMAGE_HW, 2)
    context = MODEL_TYPES.get("heatmap_mhcrnn")(IMAGE_HW, 2)
    torch.manual_seed(1)
    static, temporal = torch.randn(1, 2, 16, 24), torch.randn(1, 2, 16, 24)
    keypoints = torch.tensor([[[10.0, 20.0], [50.0, 40.0]]])
    both = torch.stack([static, temporal], 1)
    expected = (
        heatmap.supervised_loss(static, keypoints) + heatmap.supervised_loss(temporal, keypoints)
    ) / 2
    assert torch.allclose(context.supervised_loss(both, keypoints), expected)
    xy, confidence = context.decode(both)
    (sxy, sconf), (txy, tconf) = heatmap.decode(static), heatmap.decode(temporal)
    assert torch.equal(confidence, torch.maximum(sconf, tconf))
    assert torch.equal(xy, torch.where((tconf > sconf)[..., None], txy, sxy))


@pytest.mark.parametrize("name", [n for n in MODEL_TYPES if MODEL_TYPES.get(n).multi_view])
def test_multiview_output_puts_views_side_by_side_and_only_the_transformer_mixes_them(
    name: str,
) -> None:
    """On 3 views the output has 3 x K maps, view-major. Changing view 2's image changes view 0's
    maps only when attention spans the views (the transformer); ``heatmap`` and ``regression``
    apply one single-view network to each view on its own."""
    torch.manual_seed(0)
    model = build_model(_backbone(name), name, 2, IMAGE_HW, 2, pretrained=False, num_views=3)
    model.eval()
    images = normalize_images(torch.randint(0, 256, (1, 3, 3, *IMAGE_HW), dtype=torch.uint8))
    with torch.no_grad():
        before = model(images)
        changed = images.clone()
        changed[:, 2] = changed[:, 2].flip(-1)
        after = model(changed)
    assert before.shape[1] == 6
    view0_moved = (before[:, :2] - after[:, :2]).abs().max().item()
    view2_moved = (before[:, 4:] - after[:, 4:]).abs().max().item()
    assert view2_moved > 1e-3
    if MODEL_TYPES.get(name).single_view:
        assert view0_moved == 0.0
    else:
        assert view0_moved > 1e-4


@pytest.mark.parametrize("backbone", ["vits_dino", "vits_dinov2", "vits_dinov3"])
def test_transformer_runs_on_the_vits_lightning_pose_allows(backbone: str) -> None:
    model = build_model(
        backbone, "heatmap_multiview_transformer", 4, (64, 64), 2, pretrained=False, num_views=2
    )
    output = model(normalize_images(torch.randint(0, 256, (2, 2, 3, 64, 64), dtype=torch.uint8)))
    assert output.shape == (2, 8, 16, 16)
    output.mean().backward()
    assert model.head.views.weight.grad is not None and model.head.views.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("backbone", ["vits_dino", "vits_dinov3"])
def test_one_view_through_the_joint_path_is_the_plain_vit(backbone: str) -> None:
    """With one view and a zero view embedding, the joint token path is the backbone's own
    forward: nothing of the ViT is lost or reordered (a timm upgrade would show here)."""
    from pose.models.backbones import build_backbone
    from pose.models.joint_views import encode_views_jointly

    torch.manual_seed(0)
    net = build_backbone(backbone, False, (64, 96)).eval()
    images = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        joint = encode_views_jointly(net, images[:, None], torch.zeros(1, net.out_channels))
        plain = net(images)
    assert joint.shape == plain.shape == (2, net.out_channels, 4, 6)
    torch.testing.assert_close(joint, plain, atol=1e-5, rtol=1e-4)
