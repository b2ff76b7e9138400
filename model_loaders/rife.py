"""RIFE 4.x IFNet, our own implementation, loading the official checkpoints without conversion.

Paper: Huang et al., "Real-Time Intermediate Flow Estimation for Video Frame Interpolation", ECCV 2022.
Official code and weights: https://github.com/hzwer/Practical-RIFE (``train_log/flownet.pkl``, keys prefixed
``module.``); the same layouts ship as ``rife4x.pth`` for ComfyUI-Frame-Interpolation (no prefix).

Versions differ only in what the state dict shows, so the layout is read off the keys:
4.6 has no feature encoder and accumulates the fusion mask; 4.7/4.9 add a conv/deconv encoder; 4.17 a
four-layer ``Head`` encoder with 8 feature channels; 4.26 a 4-channel ``Head``, a fifth block and 8 feature
channels carried from block to block. From 4.7 on each block's mask replaces the previous one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..filmlib.errors import InputError


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=True), nn.LeakyReLU(0.2, True))


class ResConv(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) * self.beta + x)


class IFBlock(nn.Module):
    """Estimates a flow update (4 ch), a mask (1 ch) and optionally features, at 1/scale resolution."""

    def __init__(self, in_planes: int, c: int, out_channels: int):
        super().__init__()
        self.conv0 = nn.Sequential(_conv(in_planes, c // 2, 2), _conv(c // 2, c, 2))
        self.convblock = nn.Sequential(*[ResConv(c) for _ in range(8)])
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, out_channels * 4, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, scale: float) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            flow = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False) / scale
            x = torch.cat((x, flow), 1)
        tmp = self.lastconv(self.convblock(self.conv0(x)))
        tmp = F.interpolate(tmp, scale_factor=scale, mode="bilinear", align_corners=False)
        return torch.cat((tmp[:, :4] * scale, tmp[:, 4:]), 1)


class Head(nn.Module):
    """The feature encoder of 4.17+: three convs with LeakyReLU, then a transposed conv back to full size."""

    def __init__(self, c: int, out: int):
        super().__init__()
        self.cnn0 = nn.Conv2d(3, c, 3, 2, 1)
        self.cnn1 = nn.Conv2d(c, c, 3, 1, 1)
        self.cnn2 = nn.Conv2d(c, c, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(c, out, 4, 2, 1)
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.cnn0(x))
        x = self.relu(self.cnn1(x))
        x = self.relu(self.cnn2(x))
        return self.cnn3(x)


def backward_warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``img`` at ``x + flow`` (pixels), bilinear, borders replicated (RIFE's warp)."""
    n, _, h, w = flow.shape
    gx = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype).view(1, 1, 1, w).expand(n, 1, h, w)
    gy = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype).view(1, 1, h, 1).expand(n, 1, h, w)
    fx = flow[:, 0:1] / ((w - 1.0) / 2.0)
    fy = flow[:, 1:2] / ((h - 1.0) / 2.0)
    grid = torch.cat((gx + fx, gy + fy), 1).permute(0, 2, 3, 1)
    return F.grid_sample(img, grid.to(img.dtype), mode="bilinear", padding_mode="border", align_corners=True)


@dataclass(frozen=True)
class RifeLayout:
    """What the keys say about a checkpoint."""

    version: str
    blocks: tuple[tuple[int, int], ...]   # (in_planes, c) per block
    block_out: int                        # channels of each block's output (6, or 13 with carried features)
    encoder: str                          # "none", "conv" (4.7) or "head" (4.17+)
    feat: int                             # encoder output channels
    head_c: int

    @property
    def carried(self) -> int:
        return self.block_out - 5 if self.block_out > 6 else 0


def detect_layout(sd: dict[str, Any]) -> RifeLayout:
    """The RIFE layout of a state dict (keys without ``module.``), or an error naming what is missing."""
    if "block0.conv0.0.0.weight" not in sd:
        raise InputError("not a RIFE 4.x checkpoint: it has no 'block0.conv0.0.0.weight' (keys start "
                         f"{sorted(sd)[:3]})")
    blocks = []
    i = 0
    while f"block{i}.conv0.0.0.weight" in sd:
        w0 = sd[f"block{i}.conv0.0.0.weight"]
        blocks.append((int(w0.shape[1]), int(sd[f"block{i}.conv0.1.0.weight"].shape[0])))
        i += 1
    block_out = int(sd["block0.lastconv.0.weight"].shape[1]) // 4
    if "encode.cnn0.weight" in sd:
        encoder, feat, head_c = "head", int(sd["encode.cnn3.weight"].shape[1]), int(sd["encode.cnn0.weight"].shape[0])
    elif "encode.0.weight" in sd:
        encoder, feat, head_c = "conv", int(sd["encode.1.weight"].shape[1]), int(sd["encode.0.weight"].shape[0])
    else:
        encoder, feat, head_c = "none", 0, 0
    version = {("none", 4): "4.6", ("conv", 4): "4.7", ("head", 4): "4.17" if feat == 8 else "4.x-head",
               ("head", 5): "4.26"}.get((encoder, len(blocks)), f"4.x ({len(blocks)} blocks, {encoder} encoder)")
    return RifeLayout(version, tuple(blocks), block_out, encoder, feat, head_c)


class IFNet(nn.Module):
    """RIFE's flow network for any 4.x layout; ``forward(img0, img1, timestep)`` returns the merged frame."""

    def __init__(self, layout: RifeLayout):
        super().__init__()
        self.layout = layout
        for i, (cin, c) in enumerate(layout.blocks):
            self.add_module(f"block{i}", IFBlock(cin, c, layout.block_out))
        if layout.encoder == "head":
            self.encode = Head(layout.head_c, layout.feat)
        elif layout.encoder == "conv":
            self.encode = nn.Sequential(nn.Conv2d(3, layout.head_c, 3, 2, 1),
                                        nn.ConvTranspose2d(layout.head_c, layout.feat, 4, 2, 1))

    def scale_list(self, scale: float = 1.0) -> list[float]:
        n = len(self.layout.blocks)
        return [2.0 ** (n - 1 - i) / scale for i in range(n)]

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, timestep: float | torch.Tensor = 0.5,
                scale: float = 1.0) -> torch.Tensor:
        """img0, img1: (N, 3, H, W) in [0, 1], H and W multiples of 64 / scale; returns (N, 3, H, W)."""
        n, _, h, w = img0.shape
        if not torch.is_tensor(timestep):
            timestep = torch.full((n, 1, h, w), float(timestep), dtype=img0.dtype, device=img0.device)
        elif timestep.shape[-1] != w or timestep.shape[-2] != h:
            timestep = timestep.reshape(-1, 1, 1, 1).to(img0).expand(n, 1, h, w)
        lay = self.layout
        has_feat = lay.encoder != "none"
        f0 = self.encode(img0) if has_feat else None
        f1 = self.encode(img1) if has_feat else None
        warped0, warped1 = img0, img1
        flow = mask = feat = None
        for i, scale_i in enumerate(self.scale_list(scale)):
            block = getattr(self, f"block{i}")
            if flow is None:
                parts = [img0, img1] + ([f0, f1] if has_feat else []) + [timestep]
                out = block(torch.cat(parts, 1), None, scale_i)
                flow, mask = out[:, :4], out[:, 4:5]
            else:
                parts = [warped0, warped1]
                if has_feat:
                    parts += [backward_warp(f0, flow[:, :2]), backward_warp(f1, flow[:, 2:4])]
                parts += [timestep, mask] + ([feat] if lay.carried else [])
                out = block(torch.cat(parts, 1), flow, scale_i)
                flow = flow + out[:, :4]
                mask = mask + out[:, 4:5] if lay.encoder == "none" else out[:, 4:5]
            if lay.carried:
                feat = out[:, 5:5 + lay.carried]
            warped0 = backward_warp(img0, flow[:, :2])
            warped1 = backward_warp(img1, flow[:, 2:4])
        m = torch.sigmoid(mask)
        return warped0 * m + warped1 * (1 - m)


def load_rife(path: str | Path) -> IFNet:
    """An IFNet in eval mode from an official file (``flownet.pkl``, ``rife4x.pth``, or ``.safetensors``)."""
    from .checkpoint import load_state_dict
    sd = load_state_dict(path)
    layout = detect_layout(sd)
    net = IFNet(layout)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise InputError(f"{Path(path).name!r} looks like RIFE {layout.version} but does not fit it: missing "
                         f"{missing[:5]}, unexpected {unexpected[:5]}; is it a RIFE 4.x flownet file?")
    return net.eval()


def pad_multiple(scale: float = 1.0) -> int:
    """Frames are zero-padded right/bottom to this multiple, as Practical-RIFE's inference_video.py does."""
    return max(128, int(128 / scale))


def interpolate(net: IFNet, img0: torch.Tensor, img1: torch.Tensor, timestep: float | torch.Tensor,
                scale: float = 1.0) -> torch.Tensor:
    """The end-to-end official recipe: pad to ``pad_multiple``, run, crop back."""
    h, w = img0.shape[-2:]
    m = pad_multiple(scale)
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        img0 = F.pad(img0, (0, pw, 0, ph))
        img1 = F.pad(img1, (0, pw, 0, ph))
    return net(img0, img1, timestep, scale)[..., :h, :w]


class RifeInterpolator:
    """A loaded RIFE model as a pair interpolator for the interpolation stage (float HWC frames in [0, 1])."""

    def __init__(self, path: Path, device: str = "auto", precision: str = "auto", scale: float = 1.0):
        from .device import MODEL_CACHE, pick_device, pick_dtype
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, precision)
        self.scale = scale
        net = MODEL_CACHE.get(path, self.device, self.dtype, lambda: load_rife(path).to(self.device, self.dtype))
        self.net = net
        st = path.stat()
        self.signature = f"rife-{net.layout.version}-{path.name}-{st.st_size}-{st.st_mtime_ns}-{scale}-{self.dtype}"

    def __call__(self, a: Any, b: Any, times: Any) -> list[Any]:
        import numpy as np
        gray = a.shape[-1] == 1

        def tensor(x: Any) -> torch.Tensor:
            if gray:
                x = np.repeat(x, 3, axis=-1)
            return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].to(self.device, self.dtype)

        t0, t1 = tensor(a), tensor(b)
        n = len(times)
        ts = torch.tensor(list(times), dtype=self.dtype, device=self.device)
        with torch.inference_mode():
            out = interpolate(self.net, t0.expand(n, -1, -1, -1), t1.expand(n, -1, -1, -1),
                              ts.view(n, 1, 1, 1), self.scale)
        res = out.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        if gray:
            res = res.mean(axis=-1, keepdims=True)
        return list(res)
