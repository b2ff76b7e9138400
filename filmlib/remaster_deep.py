"""DeepRemaster inference (Iizuka and Simo-Serra 2019) as a stage, following the official ``remaster.py``.

Frames are converted to luma and resized (bilinear) so the short side is ``work_size`` (official ``--mindim``
320) with both sides rounded to multiples of 16. They go through the networks in non-overlapping blocks of 5
frames (the official ``block``; the last block of a shot is shorter) that restart at every cut, so no block
mixes two shots. NetworkR restores the luma; with references, NetworkC colours it from them, letterboxed as
the official code does (:func:`letterbox_references`), and Lab becomes RGB with skimage's ``lab2rgb``.

With ``full_res_luma`` the output keeps the source resolution: the restoration's correction (restored minus
input luma at the working size) is upsampled and added to the full-resolution luma, and the colour is
upsampled; without it the output is the working size, exactly what the official script writes.

Two deliberate differences from ``remaster.py``: luma is Rec.601 of RGB (the official script applies
``COLOR_RGB2GRAY`` to OpenCV's BGR frames, swapping the red and blue weights; equal on gray film), and it is not
rounded to 8 bits before the network, so 16-bit sources keep their precision.
"""
from __future__ import annotations

import bisect
import hashlib
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .clip import Film, Stage
from .errors import InputError
from .frames import convert_depth, from_float, luma, to_float
from .scenes import Scenes

BLOCK = 5          # frames per network call (remaster.py: block = 5)
REF_EDGE = 256     # references are letterboxed to 256 px on their short side (remaster.py: minedge_dim)


def working_size(width: int, height: int, short_side: int = 320) -> tuple[int, int]:
    """(w, h) the networks see: short side scaled to ``short_side``, each side rounded to a multiple of 16."""
    scale = short_side / min(width, height)
    return max(16, round(width * scale / 16.0) * 16), max(16, round(height * scale / 16.0) * 16)


def reference_canvas(sizes: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """(w, h) of the letterbox canvas for references of ``sizes`` (w, h): 256 on the short side of the mean
    aspect ratio, as remaster.py."""
    aspect = sum(w / h for w, h in sizes) / len(sizes)
    target_w = int(REF_EDGE * aspect) if aspect > 1 else REF_EDGE
    target_h = REF_EDGE if aspect >= 1 else int(REF_EDGE / aspect)
    return target_w, target_h


def letterbox(image: np.ndarray, target_w: int, target_h: int) -> np.ndarray:
    """An (H, W, 3) uint8 RGB image on a black (target_h, target_w) canvas: its long side scaled to the
    canvas's long side, both sides floored to multiples of 16 (PIL bicubic), centred; a part that overflows
    the canvas is cropped. Official ``utils.addMergin``."""
    from PIL import Image
    h, w = image.shape[:2]
    if (w, h) == (target_w, target_h):
        return image.copy()
    scale = max(target_w, target_h) / max(w, h)
    nw, nh = int(w * scale / 16.0) * 16, int(h * scale / 16.0) * 16
    if nw == 0 or nh == 0:
        raise InputError(f"a {w}x{h} reference is too elongated for a {target_w}x{target_h} canvas (it would be "
                         f"{nw}x{nh}); crop it closer to the film's aspect ratio")
    img = np.asarray(Image.fromarray(image).resize((nw, nh), Image.BICUBIC))
    out = np.zeros((target_h, target_w, 3), np.uint8)
    xp, yp = (target_w - nw) // 2, (target_h - nh) // 2
    # PIL's paste at a negative offset crops; the same with slices
    sx, sy, dx, dy = max(0, -xp), max(0, -yp), max(0, xp), max(0, yp)
    cw, ch = min(nw - sx, target_w - dx), min(nh - sy, target_h - dy)
    out[dy:dy + ch, dx:dx + cw] = img[sy:sy + ch, sx:sx + cw]
    return out


def _as_rgb8(image: np.ndarray, index: int) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise InputError(f"reference {index} must be an (H, W, 3) RGB image, got shape {a.shape}")
    if a.dtype in (np.uint8, np.uint16):
        return convert_depth(a, np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        return from_float(a, np.uint8)
    raise InputError(f"reference {index} must be uint8, uint16 or float in [0, 1], got {a.dtype}")


def letterbox_references(references: Sequence[np.ndarray]) -> np.ndarray:
    """References (H, W, 3) RGB (uint8, uint16 or float in [0, 1], any sizes) -> (N, 3, h, w) float32 in
    [0, 1], all letterboxed to one canvas (:func:`reference_canvas`), as NetworkC takes them."""
    imgs = [_as_rgb8(r, i) for i, r in enumerate(references)]
    tw, th = reference_canvas([(im.shape[1], im.shape[0]) for im in imgs])
    boxed = np.stack([letterbox(im, tw, th) for im in imgs])
    return np.ascontiguousarray(boxed.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """(H, W, 3) Lab (L in [0, 100]) -> float32 RGB in [0, 1] by skimage (the official conversion)."""
    from skimage import color
    with warnings.catch_warnings():
        # out-of-gamut colours are clipped to [0, 1], which is what we want; skimage warns about each one
        warnings.filterwarnings("ignore", message=".*negative Z values.*")
        return color.lab2rgb(lab.astype(np.float64)).astype(np.float32)


def _resize(img: np.ndarray, w: int, h: int, shape: tuple[int, ...]) -> np.ndarray:
    import cv2
    if img.shape[1] == w and img.shape[0] == h:
        return img.reshape(shape)
    interp = cv2.INTER_AREA if (w < img.shape[1] and h < img.shape[0]) else cv2.INTER_LINEAR
    return cv2.resize(img, (w, h), interpolation=interp).reshape(shape)


def resolve_model(model_path: str) -> Path:
    """The DeepRemaster file ``model_path`` (a name in models/deepremaster, or a path), or an error naming
    the file, the folders searched and where to get it."""
    from ..model_loaders.folders import find_registry_model
    return find_registry_model("deepremaster", model_path, "DeepRemaster")


class DeepRemasterStage(Stage):
    """DeepRemaster restoration, and colourisation when ``references`` are given.

    Output: gray (1 channel) without references, RGB with them; the source's bit depth; the source size with
    ``full_res_luma``, else the working size. ``scenes`` restart the 5-frame blocks at every cut.
    ``reference_shots`` (one shot index per reference, needs ``scenes``) colours each shot from its own
    references only (shots without any use all); by default every block sees every reference, as remaster.py.
    """

    name = "deepremaster"
    version = "1"

    def __init__(self, source: Film, model_path: str, references: list[np.ndarray] | None = None,
                 scenes: Scenes | None = None, work_size: int = 320, full_res_luma: bool = True,
                 device: str = "auto", reference_shots: Sequence[int] | None = None):
        n = source.info.frame_count
        if not 16 <= int(work_size) <= 4096:
            raise InputError(f"work_size (the short side the network sees) must be 16..4096, got {work_size}; "
                             f"the official size is 320")
        if scenes is not None:
            scenes.check_film(n)
        self.shots = [(s.start, s.end) for s in scenes.shots] if scenes is not None else [(0, n)]
        self._starts = [s for s, _ in self.shots]
        self.path = resolve_model(model_path)
        refs = letterbox_references(references) if references else None
        self.groups = self._reference_groups(refs, reference_shots, len(self.shots))
        self.refs = refs
        self.work = working_size(source.info.width, source.info.height, int(work_size))
        self.full_res = bool(full_res_luma)
        w, h = (source.info.width, source.info.height) if self.full_res else self.work
        st = self.path.stat()
        params = {"model": [self.path.name, st.st_size, st.st_mtime_ns], "work": list(self.work),
                  "full_res_luma": self.full_res, "shots": self.shots,
                  "refs": hashlib.sha256(refs.tobytes()).hexdigest() + str(refs.shape) if refs is not None else None,
                  "groups": self.groups}
        super().__init__(source, params, info=source.info.with_(width=w, height=h,
                                                                 channels=3 if refs is not None else 1))
        self.device_name = device
        self._nets: Any = None
        self._ref_features: dict[int, Any] = {}
        self._memo: tuple[int, np.ndarray] | None = None

    @staticmethod
    def _reference_groups(refs: np.ndarray | None, reference_shots: Sequence[int] | None, n_shots: int
                          ) -> list[list[int]] | None:
        """Per shot, the indices of its references (None: all references everywhere)."""
        if reference_shots is None:
            return None
        if refs is None or len(reference_shots) != len(refs):
            raise InputError(f"reference_shots needs one shot index per reference: got {len(reference_shots)} "
                             f"for {0 if refs is None else len(refs)} references")
        groups: list[list[int]] = [[] for _ in range(n_shots)]
        for i, s in enumerate(reference_shots):
            if not 0 <= s < n_shots:
                raise InputError(f"reference {i} is given to shot {s}, but there are {n_shots} shots "
                                 f"(0..{n_shots - 1}); connect the scenes of this film")
            groups[s].append(i)
        return [g or list(range(len(refs))) for g in groups]

    # -- blocks ---------------------------------------------------------------------------------------
    def block_of(self, index: int) -> tuple[int, int]:
        """Source frames [a, b) of the 5-frame block holding frame ``index`` (blocks restart at each cut)."""
        k = bisect.bisect_right(self._starts, index) - 1
        s, e = self.shots[k]
        a = s + (index - s) // BLOCK * BLOCK
        return a, min(e, a + BLOCK)

    def input_range(self, start: int, stop: int) -> tuple[int, int]:
        return self.block_of(start)[0], self.block_of(stop - 1)[1]

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, *self.info.frame_shape), self.info.dtype)
        pos = start
        while pos < stop:
            a, b = self.block_of(pos)
            if self._memo is not None and self._memo[0] == a:
                block = self._memo[1]   # a block split by a chunk boundary is computed once
            else:
                block = self._run_block(frames[a - first: b - first], a)
                self._memo = (a, block)
            end = min(b, stop)
            out[pos - start: end - start] = block[pos - a: end - a]
            pos = end
        return out

    # -- networks -------------------------------------------------------------------------------------
    def _models(self) -> Any:
        if self._nets is None:
            import torch
            from ..model_loaders.deepremaster import load_deepremaster
            from ..model_loaders.device import MODEL_CACHE, pick_device
            device = pick_device(self.device_name)
            nets = MODEL_CACHE.get(self.path, device, torch.float32,
                                   lambda: tuple(net.to(device) for net in load_deepremaster(self.path)))
            self._nets = (device, *nets)
        return self._nets

    def _features(self, shot: int) -> Any:
        import torch
        device, _, net_c = self._models()
        group = 0 if self.groups is None else shot
        if group not in self._ref_features:
            idx = list(range(len(self.refs))) if self.groups is None else self.groups[shot]
            refs = torch.from_numpy(self.refs[idx])[None].to(device)
            with torch.inference_mode():
                self._ref_features[group] = net_c.encode_references(refs)
        return self._ref_features[group]

    def _run_block(self, frames: np.ndarray, first: int) -> np.ndarray:
        """Output frames of one block of source frames (T, H, W, C)."""
        import cv2
        import torch
        device, net_r, net_c = self._models()
        tw, th = self.work
        src = np.stack([luma(f) for f in to_float(frames)])                       # (T, H, W)
        # bilinear at any scale, as remaster.py (cv2.resize default), not area: keep the official input
        x = np.stack([cv2.resize(f, (tw, th), interpolation=cv2.INTER_LINEAR) for f in src])  # (T, th, tw)
        with torch.inference_mode():
            xt = torch.from_numpy(np.ascontiguousarray(x))[None, None].to(device)
            lt = net_r(xt)
            ab = None
            if self.refs is not None:
                shot = bisect.bisect_right(self._starts, first) - 1
                ab = net_c.colorize(lt, self._features(shot))[0].permute(1, 2, 3, 0).float().cpu().numpy()
            restored = lt[0, 0].float().cpu().numpy()                             # (T, th, tw)
        h, w = self.info.height, self.info.width
        out = np.empty((len(frames), *self.info.frame_shape), self.info.dtype)
        for i in range(len(frames)):
            if self.full_res:
                lum = np.clip(src[i] + _resize(restored[i] - x[i], w, h, (h, w)), 0, 1)
            else:
                lum = restored[i]
            if ab is None:
                out[i] = from_float(lum, self.info.dtype)[..., None]
                continue
            chroma = _resize(ab[i], w, h, (h, w, 2))
            lab = np.concatenate([lum[..., None] * 100, np.clip(chroma * 255 - 128, -100, 100)], axis=-1)
            out[i] = from_float(lab_to_rgb(lab), self.info.dtype)
        return out
