"""One ViT over the patch tokens of every camera view at once, so attention relates views.

Each view is patch-embedded with its position embedding as a single image would be, a learned view
embedding is added to its patches, and the views' patches form one sequence through the ViT's
blocks, as in Lightning Pose's multiview transformer. Unlike it, one set of the ViT's class/register
tokens stays in the sequence (DINOv2/v3 were trained with them; Lightning Pose drops the class
token). RoPE ViTs (DINOv3, timm's ``Eva``) give every view the same 2D patch positions.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from pose.models.backbones import Backbone

# timm classes whose token path :func:`encode_views_jointly` knows
JOINT_VIEW_CLASSES = ("VisionTransformer", "Eva")


def supports_joint_views(backbone: Backbone) -> bool:
    """True for ViT backbones whose patch tokens can be encoded across views."""
    model = backbone.model
    return (
        backbone.readout == "tokens"
        and type(model).__name__ in JOINT_VIEW_CLASSES
        and not getattr(model, "rope_mixed", False)  # one rope per block: not tiled here
    )


def encode_views_jointly(backbone: Backbone, images: Tensor, view_embeddings: Tensor) -> Tensor:
    """Feature maps ``[B * V, C, H / 16, W / 16]`` of normalized views ``[B, V, 3, H, W]``,
    attention running over all ``V`` views' patches; ``view_embeddings`` is ``[V, C]``."""
    if not supports_joint_views(backbone):
        raise ValueError(f"{type(backbone.model).__name__} has no patch tokens to share")
    vit: Any = backbone.model
    b, v = images.shape[:2]
    gh, gw = images.shape[-2] // backbone.stride, images.shape[-1] // backbone.stride
    tokens = vit.patch_embed(images.flatten(0, 1))
    rope = None
    if type(vit).__name__ == "Eva":
        tokens, rope = vit._pos_embed(tokens)
    else:
        tokens = vit._pos_embed(tokens)
        tokens = vit.patch_drop(tokens)
    tokens = vit.norm_pre(tokens)
    prefix_count = vit.num_prefix_tokens
    n, c = tokens.shape[1] - prefix_count, tokens.shape[2]
    prefix = tokens[:, :prefix_count].unflatten(0, (b, v))[:, 0]  # the same learned tokens per view
    patches = tokens[:, prefix_count:].unflatten(0, (b, v)) + view_embeddings[None, :, None, :]
    x = torch.cat([prefix, patches.reshape(b, v * n, c)], dim=1)
    if rope is not None:
        # every view's patches keep their own 2D positions; rope rows follow the patch order
        rope = torch.cat([rope] * v, dim=-2)
        for block in vit.blocks:
            x = block(x, rope=rope)
    else:
        x = vit.blocks(x)
    x = vit.norm(x)[:, prefix_count:]  # [B, V * N, C]
    return x.reshape(b * v, gh, gw, c).permute(0, 3, 1, 2)


class ViewEmbeddings(nn.Module):
    """A learned ``[V, C]`` vector per view (small random init, as Lightning Pose)."""

    def __init__(self, num_views: int, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_views, channels) * 0.02)
