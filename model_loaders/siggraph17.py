"""The SIGGRAPH 2017 user-guided colourisation network (Local Hints Network), our own implementation.

Paper: Zhang, Zhu, Isola, Geng, Lin, Yu and Efros, "Real-Time User-Guided Image Colorization with Learned Deep
Priors", ACM TOG (SIGGRAPH 2017). Official code and weights: https://github.com/richzhang/colorization
(``colorizers/siggraph17.py``, BSD-2-Clause; weights ``siggraph17-df00044c.pth``, a bare state dict). The same
layout is ideepcolor's ``models/pytorch/model.py`` (https://github.com/junyanz/interactive-deep-colorization).

``net(L, ab_hint, mask)`` takes Lab L in [0, 100] ``(B, 1, H, W)``, H and W multiples of 8, optional ab hints in
Lab units ``(B, 2, H, W)`` (zero where there is none) and a mask ``(B, 1, H, W)``, 1 where a hint is given; it
returns ab in Lab units ``(B, 2, H, W)`` (tanh * 110). ``net(L)`` is the automatic colourisation (no hints).
Module names match the official state-dict keys, so the file loads without conversion.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..filmlib.errors import InputError

L_CENT, L_NORM, AB_NORM = 50.0, 100.0, 110.0   # the official BaseColor normalisation
CLASSES = 529                                   # the classification head's bins (trained, unused at inference)


def _block(channels: list[int], dilation: int = 1, lead_relu: bool = False) -> nn.Sequential:
    """[ReLU] (Conv3x3 -> ReLU)* -> BatchNorm: the official blocks, index for index (so keys match)."""
    layers: list[nn.Module] = [nn.ReLU(True)] if lead_relu else []
    for cin, cout in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv2d(cin, cout, 3, 1, padding=dilation, dilation=dilation), nn.ReLU(True)]
    layers.append(nn.BatchNorm2d(channels[-1]))
    return nn.Sequential(*layers)


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1))


def _short(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1))


class SIGGRAPHGenerator(nn.Module):
    """L (B, 1, H, W) in [0, 100], optional ab hints (B, 2, H, W) in Lab units and mask (B, 1, H, W) in {0, 1}
    -> ab (B, 2, H, W) in Lab units, within +-110; H, W multiples of 8."""

    def __init__(self, classes: int = CLASSES) -> None:
        super().__init__()
        self.model1 = _block([4, 64, 64])
        self.model2 = _block([64, 128, 128])
        self.model3 = _block([128, 256, 256, 256])
        self.model4 = _block([256, 512, 512, 512])
        self.model5 = _block([512, 512, 512, 512], dilation=2)
        self.model6 = _block([512, 512, 512, 512], dilation=2)
        self.model7 = _block([512, 512, 512, 512])
        self.model8up = _up(512, 256)
        self.model3short8 = _short(256, 256)
        self.model8 = _block([256, 256, 256], lead_relu=True)
        self.model9up = _up(256, 128)
        self.model2short9 = _short(128, 128)
        self.model9 = _block([128, 128], lead_relu=True)
        self.model10up = _up(128, 128)
        self.model1short10 = _short(64, 128)
        self.model10 = nn.Sequential(nn.ReLU(True), nn.Conv2d(128, 128, 3, 1, 1), nn.LeakyReLU(0.2))
        # the 529-way classification head is in the checkpoint but does not feed the regression output
        self.model_class = nn.Sequential(nn.Conv2d(256, classes, 1))
        self.model_out = nn.Sequential(nn.Conv2d(128, 2, 1), nn.Tanh())

    def forward(self, L: torch.Tensor, ab_hint: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        if L.ndim != 4 or L.shape[1] != 1 or L.shape[2] % 8 or L.shape[3] % 8:
            raise InputError(f"SIGGRAPH17 takes L as (B, 1, H, W) with H, W multiples of 8, got {tuple(L.shape)}")
        if ab_hint is None:
            ab_hint = L.new_zeros((L.shape[0], 2, *L.shape[2:]))
        if mask is None:
            mask = L.new_zeros(L.shape)
        # the mask goes in raw (0/1), not centred: as the official forward
        x = torch.cat(((L - L_CENT) / L_NORM, ab_hint / AB_NORM, mask), dim=1)
        c1 = self.model1(x)
        c2 = self.model2(c1[:, :, ::2, ::2])
        c3 = self.model3(c2[:, :, ::2, ::2])
        c7 = self.model7(self.model6(self.model5(self.model4(c3[:, :, ::2, ::2]))))
        c8 = self.model8(self.model8up(c7) + self.model3short8(c3))
        c9 = self.model9(self.model9up(c8) + self.model2short9(c2))
        c10 = self.model10(self.model10up(c9) + self.model1short10(c1))
        return self.model_out(c10) * AB_NORM


def to_lab(L_orig: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Full-resolution Lab from the network's ab: ``cat(L_orig, bilinear(ab to L_orig's size))``, the official
    ``postprocess_tens`` before ``lab2rgb``. L_orig (B, 1, H, W) in [0, 100], ab (B, 2, h, w) -> (B, 3, H, W)."""
    if L_orig.ndim != 4 or ab.ndim != 4 or L_orig.shape[1] != 1 or ab.shape[1] != 2:
        raise InputError(f"to_lab takes L (B, 1, H, W) and ab (B, 2, h, w), got {tuple(L_orig.shape)} and "
                         f"{tuple(ab.shape)}")
    if ab.shape[2:] != L_orig.shape[2:]:
        ab = F.interpolate(ab, size=tuple(L_orig.shape[2:]), mode="bilinear", align_corners=False)
    return torch.cat((L_orig, ab), dim=1)


def load_siggraph17(path: str | Path) -> SIGGRAPHGenerator:
    """SIGGRAPHGenerator in eval mode, float32, on the CPU from the official ``siggraph17-df00044c.pth`` (a bare
    state dict, read with ``torch.load(weights_only=True)``) or its ``.safetensors`` conversion; every key
    must match."""
    from .checkpoint import fill_strict, load_file, unwrap
    path = Path(path)
    return fill_strict(SIGGRAPHGenerator(), unwrap(load_file(path)),
                       f"{path.name!r} is not a SIGGRAPH17 colourisation checkpoint",
                       "use the official siggraph17-df00044c.pth (python -m filmrestore models download siggraph17)")
