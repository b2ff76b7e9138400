"""DeOldify: the self-attention U-Net generators that colourise black-and-white images, our own implementation.

Jason Antic, DeOldify, https://github.com/jantic/DeOldify (code and weights MIT). Two generators, both fastai v1
``DynamicUnet`` variants on a torchvision ResNet body with spectral-norm decoder convs, blurred pixel-shuffle
upsampling, self-attention at 1/8 scale and a sigmoid output range of (-3, 3):

- ``artistic`` (``ColorizeArtistic_gen.pth``): ``DynamicUnetDeep`` on ResNet-34, ``nf_factor`` 1.5;
- ``video`` (``ColorizeVideo_gen.pth``, and ``ColorizeStable_gen.pth`` which has the same layout):
  ``DynamicUnetWide`` on ResNet-101, ``nf_factor`` 2.

The network takes the frame's luma replicated to 3 channels and normalised with the ImageNet mean and std
(:func:`deoldify_normalize`) and returns a colour image in that normalised space; :func:`deoldify_postprocess`
keeps only its chroma, as the official ``filters.py`` does. Module names match the official state-dict keys;
spectral norm and weight norm are folded into plain weights when the file is loaded.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..filmlib.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Y_RANGE = (-3.0, 3.0)

# arch -> (official class, ResNet blocks per stage, bottleneck blocks, decoder width factor, files)
ARCHS: dict[str, tuple[str, tuple[int, ...], bool, float, str]] = {
    "artistic": ("DynamicUnetDeep on ResNet-34", (3, 4, 6, 3), False, 1.5, "ColorizeArtistic_gen.pth"),
    "video": ("DynamicUnetWide on ResNet-101", (3, 4, 23, 3), True, 2.0,
              "ColorizeVideo_gen.pth or ColorizeStable_gen.pth"),
}


# -- encoder: a torchvision-layout ResNet without pooling head --------------------------------------------

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _shortcut(cin, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # stride on the 3x3, as torchvision
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = _shortcut(cin, planes * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


def _resnet_body(blocks: tuple[int, ...], bottleneck: bool) -> nn.Sequential:
    """conv1, bn1, relu, maxpool, layer1..4 as indices 0..7 (fastai ``create_body`` cuts avgpool and fc)."""
    block = Bottleneck if bottleneck else BasicBlock
    stages, cin = [], 64
    for i, n in enumerate(blocks):
        planes = 64 * 2 ** i
        stage = []
        for j in range(n):
            stage.append(block(cin, planes, 2 if (j == 0 and i > 0) else 1))
            cin = planes * block.expansion
        stages.append(nn.Sequential(*stage))
    return nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                         nn.MaxPool2d(3, 2, 1), *stages)


# -- decoder -------------------------------------------------------------------------------------------------

def _sn(conv: nn.Module) -> nn.Module:
    conv.norm = "spectral"  # the official file holds weight_orig/_u/_v for it; folded at load
    return conv


def _conv(cin: int, cout: int, ks: int = 3, relu: bool = True, bn: bool = True,
          attention: bool = False) -> nn.Sequential:
    """fastai/DeOldify ``(custom_)conv_layer`` with spectral norm: conv, ReLU, BatchNorm (that order), optional
    self-attention; the conv has a bias only when no BatchNorm follows."""
    layers: list[nn.Module] = [_sn(nn.Conv2d(cin, cout, ks, 1, (ks - 1) // 2, bias=not bn))]
    if relu:
        layers.append(nn.ReLU())
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    if attention:
        layers.append(SelfAttention(cout))
    return nn.Sequential(*layers)


class SelfAttention(nn.Module):
    """SAGAN self-attention over all positions (fastai v1): ``gamma * (h @ softmax(f^T g, over the query
    axis)) + x``, with spectral-norm 1x1 Conv1d projections."""

    def __init__(self, c: int):
        super().__init__()
        self.query = _sn(nn.Conv1d(c, c // 8, 1, bias=False))
        self.key = _sn(nn.Conv1d(c, c // 8, 1, bias=False))
        self.value = _sn(nn.Conv1d(c, c, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)
        f, g, h = self.query(flat), self.key(flat), self.value(flat)
        # fastai normalises over dim 1 (the query index), not the usual key index
        beta = torch.softmax(torch.bmm(f.transpose(1, 2), g), dim=1)
        return (self.gamma * torch.bmm(h, beta) + flat).view_as(x)


class PixelShuffleICNR(nn.Module):
    """1x1 conv to ``cout * 4`` channels, ReLU, 2x pixel shuffle, then the anti-checkerboard blur (replicate-pad
    left/top by one, 2x2 mean, stride 1). The fastai modules always blur: ``if self.blur`` tests a module."""

    def __init__(self, cin: int, cout: int, final: bool = False):
        super().__init__()
        if final:  # fastai PixelShuffle_ICNR: weight norm, bias, no BatchNorm
            conv = nn.Conv2d(cin, cout * 4, 1)
            conv.norm = "weight"
            self.conv = nn.Sequential(conv)
        else:      # DeOldify CustomPixelShuffle_ICNR: spectral norm, then BatchNorm (extra_bn)
            self.conv = _conv(cin, cout * 4, ks=1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pixel_shuffle(F.relu(self.conv(x)), 2)
        return F.avg_pool2d(F.pad(x, (1, 0, 1, 0), mode="replicate"), 2, stride=1)


class UnetBlock(nn.Module):
    """Upsample the decoder features 2x, nearest-resize them to the skip's size when they differ (odd sizes),
    concatenate with the BatchNorm'd skip, ReLU, then one conv (wide) or two (deep)."""

    def __init__(self, up_in: int, skip: int, up_out: int, convs: list[tuple[int, int]], attention: bool):
        super().__init__()
        self.shuf = PixelShuffleICNR(up_in, up_out)
        self.bn = nn.BatchNorm2d(skip)
        names = ["conv"] if len(convs) == 1 else ["conv1", "conv2"]
        for k, (name, (cin, cout)) in enumerate(zip(names, convs)):
            setattr(self, name, _conv(cin, cout, attention=attention and k == len(convs) - 1))
        self.names = names

    def forward(self, up_in: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        up = self.shuf(up_in)
        if up.shape[-2:] != s.shape[-2:]:
            up = F.interpolate(up, s.shape[-2:], mode="nearest")
        x = F.relu(torch.cat([up, self.bn(s)], dim=1))
        for name in self.names:
            x = getattr(self, name)(x)
        return x


class ResBlock(nn.Module):
    """fastai ``res_block`` with spectral norm: x + relu(conv(relu(conv(x)))) (convs with bias, no BatchNorm)."""

    def __init__(self, c: int):
        super().__init__()
        self.layers = nn.ModuleList([_conv(c, c, bn=False), _conv(c, c, bn=False)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers[1](self.layers[0](x))


class DeOldify(nn.Module):
    """The generator: (B, 3, H, W) normalised luma -> (B, 3, H, W) colour in normalised space, in (-3, 3).

    ``layers`` follows the official ``SequentialEx`` indices: 0 encoder, 1 BatchNorm, 2 ReLU, 3 middle convs,
    4-7 U-Net blocks (skips from ResNet layer3, layer2, layer1 and the stem), 8 final pixel shuffle, 9 the
    dense merge with the input, 10 residual block, 11 1x1 output conv, 12 the sigmoid range. H and W should be
    multiples of 16 (the official render sizes are); others take the nearest-resize path.
    """

    SKIPS = (6, 5, 4, 2)  # encoder indices whose outputs feed blocks 4..7

    def __init__(self, arch: str):
        super().__init__()
        if arch not in ARCHS:
            raise InputError(f"unknown DeOldify architecture {arch!r}; use one of {sorted(ARCHS)}")
        self.arch = arch
        _, blocks, bottleneck, nf_factor, _ = ARCHS[arch]
        e = 4 if bottleneck else 1
        skip_c = [256 * e, 128 * e, 64 * e, 64]
        ni = 512 * e
        layers: list[nn.Module] = [_resnet_body(blocks, bottleneck), nn.BatchNorm2d(ni), nn.ReLU(),
                                   nn.Sequential(_conv(ni, ni * 2), _conv(ni * 2, ni))]
        x = ni
        for i, sc in enumerate(skip_c):
            final = i == len(skip_c) - 1
            attention = i == len(skip_c) - 3
            if arch == "artistic":  # DynamicUnetDeep: width follows the inputs, two convs
                up_out = x // 2
                cin = up_out + sc
                cout = int((cin // 2 if final else cin) * nf_factor)
                convs = [(cin, cout), (cout, cout)]
            else:                   # DynamicUnetWide: fixed width 512 * nf_factor, one conv
                n_out = int(512 * nf_factor) // (2 if final else 1)
                up_out = n_out // 2
                cout = n_out // 2
                convs = [(up_out + sc, cout)]
            layers.append(UnetBlock(x, sc, up_out, convs, attention))
            x = cout
        layers.append(PixelShuffleICNR(x, x, final=True))
        layers.append(nn.Identity())  # MergeLayer(dense=True): concatenation done in forward
        layers.append(ResBlock(x + 3))
        layers.append(_conv(x + 3, 3, ks=1, relu=False, bn=False))
        layers.append(nn.Identity())  # SigmoidRange(-3, 3)
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L = self.layers
        skips, h = {}, x
        for i, layer in enumerate(L[0]):
            h = layer(h)
            if i in self.SKIPS:
                skips[i] = h
        h = L[3](L[2](L[1](h)))
        for block, idx in zip(L[4:8], self.SKIPS):
            h = block(h, skips[idx])
        h = torch.cat([L[8](h), x], dim=1)
        h = L[11](L[10](h))
        lo, hi = Y_RANGE
        return torch.sigmoid(h) * (hi - lo) + lo


# -- loading ---------------------------------------------------------------------------------------------

def detect_arch(sd: dict[str, Any]) -> str:
    """'artistic' (DynamicUnetDeep) or 'video' (DynamicUnetWide) from the decoder's key names."""
    if any(k.startswith("layers.4.conv1.") for k in sd):
        return "artistic"
    if any(k.startswith("layers.4.conv.") for k in sd):
        return "video"
    raise InputError(f"not a DeOldify generator: it has neither 'layers.4.conv1.*' (artistic, DynamicUnetDeep) "
                     f"nor 'layers.4.conv.*' (video/stable, DynamicUnetWide) keys; its keys start "
                     f"{sorted(sd)[:3]}. Use the official ColorizeArtistic_gen.pth, ColorizeVideo_gen.pth or "
                     f"ColorizeStable_gen.pth")


def _official_layout(net: nn.Module) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Every key the official file has for ``net`` with its shape, and the module paths that are normed."""
    layout = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    normed = {}
    for name, mod in net.named_modules():
        norm = getattr(mod, "norm", None)
        if norm is None:
            continue
        w = layout.pop(f"{name}.weight")
        normed[name] = norm
        if norm == "spectral":
            layout.update({f"{name}.weight_orig": w, f"{name}.weight_u": (w[0],),
                           f"{name}.weight_v": (math.prod(w[1:]),)})
        else:
            layout.update({f"{name}.weight_g": (w[0],) + (1,) * (len(w) - 1), f"{name}.weight_v": w})
    return layout, normed


def _fold(sd: dict[str, torch.Tensor], p: str, norm: str) -> torch.Tensor:
    """The plain weight of normed module ``p``: eval-mode spectral norm W / (u . W v), or weight norm
    g * v / ||v|| per output channel."""
    if norm == "spectral":
        w = sd[f"{p}.weight_orig"].float()
        u, v = sd[f"{p}.weight_u"].float(), sd[f"{p}.weight_v"].float()
        sigma = torch.dot(u, torch.mv(w.reshape(w.shape[0], -1), v))
    else:
        v = sd[f"{p}.weight_v"].float()
        g = sd[f"{p}.weight_g"].float()
        return v * (g / v.flatten(1).norm(dim=1).view_as(g))
    if not torch.isfinite(sigma) or sigma <= 0:
        raise InputError(f"spectral norm of {p!r} is {float(sigma)} (it must be a positive number): the file's "
                         f"weight_u/weight_v are damaged; get the checkpoint again")
    return w / sigma


def _plain_state_dict(sd: dict[str, Any], net: nn.Module, arch: str, file: str) -> dict[str, torch.Tensor]:
    """Check ``sd`` key by key against the official layout of ``net`` and fold the norms into plain weights."""
    layout, normed = _official_layout(net)
    # a normed module may already carry its plain weight: torch<1.0.1 spectral norm stored the normalised
    # ``weight`` beside weight_orig/weight_u, and folded conversions hold only ``weight``
    plain = {p for p in normed if f"{p}.weight" in sd}
    for p in plain:
        for k in [k for k in layout if k.startswith(p + ".weight_")]:
            del layout[k]
        layout[f"{p}.weight"] = tuple(net.get_submodule(p).weight.shape)
    extras = {k for p in plain for k in (f"{p}.weight_orig", f"{p}.weight_u", f"{p}.weight_g", f"{p}.weight_v")}
    counts = {k for k in layout if k.endswith("num_batches_tracked")}  # absent from torch<0.4.1 files
    missing = [k for k in layout if k not in sd and k not in counts]
    unexpected = [k for k in sd if k not in layout and k not in extras]
    wrong = [f"{k} {tuple(sd[k].shape)} (expected {layout[k]})" for k in layout
             if k in sd and k not in counts and tuple(sd[k].shape) != layout[k]]
    if missing or unexpected or wrong:
        cls, *_, files = ARCHS[arch]
        raise InputError(
            f"{file!r} looks like DeOldify {arch} ({cls}) but does not fit it: "
            f"{len(missing)} missing {missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, "
            f"{len(wrong)} wrong shape {wrong[:3]}; use the official {files} from github.com/jantic/DeOldify")
    out: dict[str, torch.Tensor] = {}
    for k, shape in layout.items():
        p, _, leaf = k.rpartition(".")
        if k in counts:
            out[k] = sd[k].reshape(()).long() if k in sd else torch.zeros((), dtype=torch.long)
        elif p in normed and p not in plain and leaf.startswith("weight_"):
            out.setdefault(f"{p}.weight", _fold(sd, p, normed[p]))
        else:
            out[k] = sd[k].float()
    return out


def load_deoldify(path: str | Path) -> DeOldify:
    """A DeOldify generator in eval mode, float32, on the CPU, from an official file (``ColorizeArtistic_gen.pth``,
    ``ColorizeVideo_gen.pth``, ``ColorizeStable_gen.pth``: a bare state dict or fastai's ``{'model', 'opt'}``)
    or its ``.safetensors`` conversion; ``net.arch`` is 'artistic' or 'video'."""
    from .checkpoint import load_state_dict
    path = Path(path)
    sd = load_state_dict(path)
    arch = detect_arch(sd)
    with torch.device("meta"):  # no random init of 218 M parameters that the file replaces anyway
        net = DeOldify(arch)
    net.load_state_dict(_plain_state_dict(sd, net, arch, path.name), strict=True, assign=True)
    return net.requires_grad_(False).eval()


# -- pre- and post-processing ------------------------------------------------------------------------------

def _stats(ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(IMAGENET_MEAN, dtype=ref.dtype, device=ref.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=ref.dtype, device=ref.device).view(1, 3, 1, 1)
    return mean, std


def deoldify_normalize(gray: torch.Tensor) -> torch.Tensor:
    """The network input from gray (B, 1 or 3, H, W) float in [0, 1]: replicated to 3 channels, ImageNet
    normalised, as the official ``BaseFilter._model_process``."""
    if gray.dim() != 4 or gray.shape[1] not in (1, 3):
        raise InputError(f"gray frames must be (B, 1 or 3, H, W), got {tuple(gray.shape)}")
    mean, std = _stats(gray)
    return (gray.expand(-1, 3, -1, -1) - mean) / std


def deoldify_postprocess(raw: torch.Tensor, orig_rgb: torch.Tensor) -> torch.Tensor:
    """The colour frame from the network output ``raw`` (B, 3, h, w, normalised) and the original frame
    ``orig_rgb`` (B, 3, H, W) float in [0, 1] -> (B, 3, H, W) in [0, 1], float32 (float64 stays float64).

    As the official ``filters.py``: denormalise and clamp the output, resize it bilinearly to the original size
    when it differs, then keep the original's luma and take only the chroma from the model (cv2's float
    RGB<->YUV constants). The uint8 rounding of the official path is left out (it differs by <= 3/255)."""
    if raw.dim() != 4 or raw.shape[1] != 3 or orig_rgb.dim() != 4 or orig_rgb.shape[1] != 3 \
            or raw.shape[0] != orig_rgb.shape[0]:
        raise InputError(f"raw and orig_rgb must both be (B, 3, H, W) with the same B, got {tuple(raw.shape)} "
                         f"and {tuple(orig_rgb.shape)}")
    dtype = torch.float64 if torch.float64 in (raw.dtype, orig_rgb.dtype) else torch.float32
    raw, orig = raw.to(dtype), orig_rgb.to(device=raw.device, dtype=dtype)
    mean, std = _stats(raw)
    color = (raw * std + mean).clamp(0, 1)
    if color.shape[-2:] != orig.shape[-2:]:
        color = F.interpolate(color, orig.shape[-2:], mode="bilinear", align_corners=False,
                              antialias=True).clamp(0, 1)

    def luma(rgb: torch.Tensor) -> torch.Tensor:
        return 0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]

    y_c = luma(color)
    u = 0.492 * (color[:, 2:3] - y_c)
    v = 0.877 * (color[:, 0:1] - y_c)
    y = luma(orig)
    return torch.cat([y + 1.140 * v, y - 0.395 * u - 0.581 * v, y + 2.032 * u], dim=1).clamp(0, 1)
