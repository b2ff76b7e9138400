"""DeepRemaster: restoration (NetworkR) and reference-based colourisation (NetworkC), our own implementation.

Paper: Iizuka and Simo-Serra, "DeepRemaster: Temporal Source-Reference Attention Networks for Comprehensive
Video Enhancement", ACM TOG (SIGGRAPH Asia 2019). Official code and weights:
https://github.com/satoshiiizuka/siggraphasia2019_remastering (``model/remasternet.pth.tar`` =
``{'modelR': ..., 'modelC': ...}``). The weights are CC BY-NC-SA 4.0: non-commercial use only.

Tensor layouts are the official ones: clips are ``(B, C, T, H, W)``; ``NetworkR()(x)`` takes gray in [0, 1]
and returns the restored Lab L/100; ``NetworkC()(l, refs)`` takes that L and references ``(B, Nref, 3, Hr, Wr)``
RGB in [0, 1] and returns a sigmoid ``(B, 2, T, H, W)`` that :func:`to_lab` turns into Lab a, b. Module names
match the official state-dict keys, so the file loads without conversion.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..filmlib.errors import InputError

# the training set's mean gray level (official constant), removed before both networks
GRAY_MEAN = 0.4462414
REF_MEAN = 0.48


class TempConv(nn.Module):
    """Conv3d -> BatchNorm3d -> ELU; the default kernel (1, 3, 3) works frame by frame."""

    def __init__(self, cin: int, cout: int, kernel_size: tuple[int, int, int] = (1, 3, 3),
                 stride: tuple[int, int, int] = (1, 1, 1), padding: tuple[int, int, int] = (0, 1, 1)):
        super().__init__()
        self.conv3d = nn.Conv3d(cin, cout, kernel_size, stride, padding)
        self.bn = nn.BatchNorm3d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(self.bn(self.conv3d(x)))


def _up2(x: torch.Tensor) -> torch.Tensor:
    """2x spatial upsampling, time kept (trilinear, half-pixel centres, as the official code)."""
    return F.interpolate(x, scale_factor=(1, 2, 2), mode="trilinear", align_corners=False)


class Upsample(nn.Module):
    """2x spatial upsampling, then a 3x3x3 Conv3d -> BatchNorm3d -> ELU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv3d = nn.Conv3d(cin, cout, 3, 1, 1)
        self.bn = nn.BatchNorm3d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(self.bn(self.conv3d(_up2(x))))


class UpsampleConcat(nn.Module):
    """Upsample the coarse features 2x, concatenate the skip features, 3x3x3 TempConv."""

    def __init__(self, c_up: int, c_skip: int, cout: int):
        super().__init__()
        self.conv3d = TempConv(c_up + c_skip, cout, (3, 3, 3), (1, 1, 1), (1, 1, 1))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv3d(torch.cat([_up2(x), skip], dim=1))


class SourceReferenceAttention(nn.Module):
    """Every source position attends to every reference position (self-attention when both are the same).

    Unscaled dot-product attention (no 1/sqrt(d)), output ``gamma * attended + source``. The softmax is taken
    over the references for a slice of source positions at a time, so the (Ns x Nr) matrix never exceeds
    ``ATTENTION_ELEMENTS``: at 1/8 of a 432x320 block the self-attention alone would be a 1 GB matrix.
    """

    ATTENTION_ELEMENTS = 1 << 26     # 256 MB of float32 energies per slice

    def __init__(self, c_source: int, c_ref: int):
        super().__init__()
        self.query_conv = nn.Conv3d(c_source, c_source // 8, 1)
        self.key_conv = nn.Conv3d(c_ref, c_ref // 8, 1)
        self.value_conv = nn.Conv3d(c_ref, c_ref, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = source.shape
        q = self.query_conv(source).flatten(2).transpose(1, 2)       # (B, Ns, Cq)
        k = self.key_conv(reference).flatten(2)                      # (B, Cq, Nr)
        v = self.value_conv(reference).flatten(2).transpose(1, 2)    # (B, Nr, Cs)
        step = max(1, self.ATTENTION_ELEMENTS // (b * k.shape[-1]))
        out = torch.cat([torch.bmm(torch.softmax(torch.bmm(q[:, i:i + step], k), dim=-1), v)
                         for i in range(0, q.shape[1], step)], dim=1)
        return self.gamma * out.transpose(1, 2).reshape(b, c, t, h, w) + source


def _tc3(cin: int, cout: int, stride: tuple[int, int, int] = (1, 1, 1), padding: int = 1) -> TempConv:
    return TempConv(cin, cout, (3, 3, 3), stride, (padding,) * 3)


class NetworkR(nn.Module):
    """Restoration: (B, 1, T, H, W) gray in [0, 1] -> restored L/100, same shape; H, W multiples of 4."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.ReplicationPad3d(1),
            _tc3(1, 64, (1, 2, 2), padding=0),
            _tc3(64, 128), _tc3(128, 128),
            _tc3(128, 256, (1, 2, 2)),
            _tc3(256, 256), _tc3(256, 256), _tc3(256, 256), _tc3(256, 256),
            Upsample(256, 128),
            _tc3(128, 64), _tc3(64, 64),
            Upsample(64, 16),
            nn.Conv3d(16, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + torch.tanh(self.layers(x - GRAY_MEAN))).clamp(0, 1)


class NetworkC(nn.Module):
    """Colourisation: L/100 (B, 1, T, H, W), H, W multiples of 16, and optional references (B, Nref, 3, Hr,
    Wr) RGB in [0, 1] -> sigmoid (B, 2, T, H, W) in [0, 1] (scaled a, b; see :func:`to_lab`)."""

    def __init__(self) -> None:
        super().__init__()
        s2 = (1, 2, 2)
        self.down1 = nn.Sequential(
            nn.ReplicationPad3d((1, 1, 1, 1, 0, 0)),
            TempConv(1, 64, stride=s2, padding=(0, 0, 0)), TempConv(64, 128), TempConv(128, 128),
            TempConv(128, 256, stride=s2), TempConv(256, 256), TempConv(256, 256),
            TempConv(256, 512, stride=s2), TempConv(512, 512), TempConv(512, 512))
        self.flat = nn.Sequential(TempConv(512, 512), TempConv(512, 512))
        self.down2 = nn.Sequential(TempConv(512, 512, stride=s2), TempConv(512, 512))
        self.stattn1 = SourceReferenceAttention(512, 512)
        self.stattn2 = SourceReferenceAttention(512, 512)
        self.selfattn1 = SourceReferenceAttention(512, 512)
        self.conv1 = TempConv(512, 512)
        self.up1 = UpsampleConcat(512, 512, 512)
        self.selfattn2 = SourceReferenceAttention(512, 512)
        self.conv2 = _tc3(512, 256)
        self.up2 = nn.Sequential(Upsample(256, 128), _tc3(128, 64))
        self.up3 = nn.Sequential(Upsample(64, 32), _tc3(32, 16))
        self.up4 = nn.Sequential(Upsample(16, 8), nn.Conv3d(8, 2, 3, 1, 1))
        self.reffeatnet1 = nn.Sequential(
            TempConv(3, 64, stride=s2), TempConv(64, 128), TempConv(128, 128),
            TempConv(128, 256, stride=s2), TempConv(256, 256), TempConv(256, 256),
            TempConv(256, 512, stride=s2), TempConv(512, 512), TempConv(512, 512))
        self.reffeatnet2 = nn.Sequential(TempConv(512, 512, stride=s2), TempConv(512, 512), TempConv(512, 512))

    def encode_references(self, refs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference features at 1/8 and 1/16 from (B, Nref, 3, Hr, Wr); they do not depend on the clip, so
        a caller colouring many blocks with the same references computes them once."""
        f1 = self.reffeatnet1(refs.transpose(1, 2) - REF_MEAN)
        return f1, self.reffeatnet2(f1)

    def colorize(self, x: torch.Tensor, ref_features: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """The forward pass with precomputed reference features (None: no references)."""
        x1 = self.down1(x - GRAY_MEAN)
        if ref_features is not None:
            x1 = self.stattn1(x1, ref_features[0])
        skip = self.flat(x1)
        out = self.down2(x1)
        if ref_features is not None:
            out = self.stattn2(out, ref_features[1])
        out = self.conv1(out)
        out = self.selfattn1(out, out)
        out = self.up1(out, skip)
        out = self.selfattn2(out, out)
        out = self.up4(self.up3(self.up2(self.conv2(out))))
        return torch.sigmoid(out)

    def forward(self, x: torch.Tensor, x_refs: torch.Tensor | None = None) -> torch.Tensor:
        return self.colorize(x, None if x_refs is None else self.encode_references(x_refs))


def to_lab(l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Network outputs -> Lab, as the official post-processing: L = l*100 in [0, 100], a/b = clip(ab*255 - 128,
    -100, 100); ``l`` (B, 1, ...) and ``ab`` (B, 2, ...) -> (B, 3, ...)."""
    return torch.cat([l * 100, (ab * 255 - 128).clamp(-100, 100)], dim=1)


def _fill(net: nn.Module, sd: dict[str, Any], what: str, file: str) -> nn.Module:
    from .checkpoint import fill_strict
    return fill_strict(net, sd, f"{file!r} has a {what!r} entry that is not a DeepRemaster {type(net).__name__}",
                       "use the official remasternet.pth.tar (python -m filmrestore models download deepremaster)")


def load_deepremaster(path: str | Path) -> tuple[NetworkR, NetworkC]:
    """(NetworkR, NetworkC) in eval mode on the CPU from the official ``remasternet.pth.tar`` (or its
    ``.safetensors`` conversion, keys ``modelR::...``/``modelC::...``)."""
    from .checkpoint import load_file, unwrap
    path = Path(path)
    obj = load_file(path)
    if not isinstance(obj, dict) or not {"modelR", "modelC"} <= set(obj):
        have = sorted(map(str, obj))[:8] if isinstance(obj, dict) else type(obj).__name__
        raise InputError(f"{path.name!r} is not a DeepRemaster checkpoint: it needs 'modelR' and 'modelC' "
                         f"entries, it has {have}; use the official remasternet.pth.tar")
    net_r = _fill(NetworkR(), unwrap(obj["modelR"]), "modelR", path.name)
    net_c = _fill(NetworkC(), unwrap(obj["modelC"]), "modelC", path.name)
    return net_r, net_c
