"""Colouring a film from reference photos, shot by shot: the FilmReferenceColorize stage.

Each shot takes its own reference (or all shots one), so no colour crosses a cut. Inside a shot, frames are
coloured at the working size (``transfer.WORK_SIZE`` short side) by the chosen method at anchors every
``key_interval`` frames from the shot's start (and at its last frame); the frames between two anchors carry the
anchors' colour along DIS optical flow, forwards from the first and backwards from the second, blended by
distance, so the colour does not flicker; where the flow is unreliable (forward and backward flows disagree:
occlusions, new picture) the frame's own match fills in. The chroma is then upsampled and put back on the
source's full-resolution luma, which the output keeps bit-identical (``transfer.compose``).

Everything a frame's colour depends on lies between its two anchors, so any chunking of the clip gives the same
frames. Without a shot list the stage finds the cuts itself, as FilmSceneDetect does by default.
"""
from __future__ import annotations

import bisect
import hashlib
from typing import Any, Sequence

import numpy as np

from ..clip import Film, Stage
from ..errors import InputError
from . import transfer as tr

METHODS = ("transfer", "global", "siggraph17")
# Frames between anchors. Picked on real clips (bikes, bigbuckbunny, carphone, 40-frame shots made gray;
# benchmarks/bench_colour.py), mean CIEDE2000 / motion-compensated colour flicker (ab) with each shot's first
# frame as reference and with a frame 60 later: matching every frame 3.52 / 0.47 and 4.90 / 0.74; every 8th
# 3.52 / 0.36 and 4.81 / 0.50; every 16th 3.53 / 0.33 and 4.75 / 0.43; once per shot 3.63 / 0.28, 4.61 / 0.33.
KEY_INTERVAL = 16
FLOW_QUALITY = "medium"
SKIP_MATCH = 0.02      # share of unreliable flow below which a frame between anchors is not matched itself


def _as_rgb8(image: np.ndarray, index: int) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise InputError(f"reference {index} must be an (H, W, 3) colour image, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        return (a >> 8).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        return np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    raise InputError(f"reference {index} must be uint8, uint16 or float in [0, 1], got {a.dtype}")


def shot_bounds(n: int, cuts: Sequence[int]) -> list[tuple[int, int]]:
    """[a, b) shots of a clip of ``n`` frames cut at ``cuts``."""
    bounds = [0] + sorted(c for c in set(cuts) if 0 < c < n) + [n]
    return list(zip(bounds, bounds[1:]))


def picture_descriptor(gray: np.ndarray) -> np.ndarray:
    """What a picture holds regardless of framing, flips and colour: histograms of its lightness and of its
    local contrast (gray (H, W) float in [0, 1]); compared with :func:`descriptor_distance`."""
    import cv2
    g = cv2.GaussianBlur(cv2.resize(gray.astype(np.float32), (160, 120), interpolation=cv2.INTER_AREA), (0, 0), 1.0)
    grad = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    h_light = np.histogram(g, 24, (0.0, 1.0))[0].astype(np.float64)
    h_grad = np.histogram(np.minimum(grad, 2.0), 24, (0.0, 2.0))[0].astype(np.float64)
    return np.concatenate([h_light / max(1.0, h_light.sum()), h_grad / max(1.0, h_grad.sum())])


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Chi-square distance of two :func:`picture_descriptor`s (0 = the same histograms)."""
    return float(0.5 * np.sum((a - b) ** 2 / (a + b + 1e-9)))


class ReferenceColorizeStage(Stage):
    """A gray (or colour) film coloured from ``references`` (list of (H, W, 3) RGB uint8/uint16/float [0, 1]).

    ``cuts``: first frames of shots; None finds them. ``stills``: every frame is its own shot (an IMAGE batch
    of keyframes: no flow, reference k for frame k). ``position``: transfer's weight on where things are in the
    frame (higher when each reference is a frame of its shot, 0 for a view framed any other way). Output: RGB,
    the source's size and bit depth, with the source's luma unchanged. ``method`` siggraph17 needs
    ``model_path`` (a file in models/colorization).
    """

    name = "reference_colorize"
    version = "1"

    def __init__(self, source: Film, references: Sequence[np.ndarray], cuts: Sequence[int] | None = None,
                 method: str = "transfer", work_size: int = tr.WORK_SIZE, key_interval: int = KEY_INTERVAL,
                 stills: bool = False, model_path: str = "", device: str = "auto",
                 position: float = tr.W_POSITION):
        if method not in METHODS:
            raise InputError(f"method must be one of {METHODS}, got {method!r}")
        if not 64 <= int(work_size) <= 2048:
            raise InputError(f"work_size (the short side colour is worked out at) must be 64..2048, got {work_size}")
        if int(key_interval) < 1:
            raise InputError(f"key_interval must be at least 1 frame, got {key_interval}")
        if not 0.0 <= float(position) <= 4.0:
            raise InputError(f"position (how much the reference's framing counts) must be 0..4, got {position}")
        if len(references) == 0:
            raise InputError("no reference image: connect at least one colour photo to references")
        n = source.info.frame_count
        self.refs = [_as_rgb8(r, i) for i, r in enumerate(references)]
        self.method, self.work_size, self.key_interval = method, int(work_size), int(key_interval)
        self.position = float(position)
        self.given_cuts = list(range(1, n)) if stills else (sorted(set(cuts)) if cuts is not None else None)
        self.stills = bool(stills)
        self.model_path, self.device = model_path, device
        digest = hashlib.sha256(b"".join(r.tobytes() + str(r.shape).encode() for r in self.refs)).hexdigest()
        model = None
        if method == "siggraph17":
            from pathlib import Path
            p = Path(model_path)
            model = [p.name, p.stat().st_size, p.stat().st_mtime_ns] if p.is_file() else model_path
        params = {"method": method, "work": self.work_size, "key": self.key_interval, "cuts": self.given_cuts,
                  "refs": digest, "model": model, "stills": self.stills,
                  "position": self.position}
        super().__init__(source, params, info=source.info.with_(channels=3))
        self.work = tr.working_shape(source.info.height, source.info.width, self.work_size)
        self._ref_lab: dict[int, np.ndarray] = {}
        self._colorizer: Any = None
        self._memo: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._shots: list[tuple[int, int]] | None = None
        self._starts: list[int] = []
        self._assigned: dict[int, int] = {}
        self._ref_desc: list[np.ndarray] | None = None

    # -- shots ----------------------------------------------------------------------------------------
    @property
    def shots(self) -> list[tuple[int, int]]:
        """[a, b) of every shot, given or found (found once per film, cached)."""
        if self._shots is None:
            n = self.info.frame_count
            cuts = self.given_cuts
            if cuts is None:
                cuts = self.cached_analysis(self._find_cuts, lambda p: [int(c) for c in p[1:]])
            self._shots = shot_bounds(n, cuts)
            self._starts = [a for a, _ in self._shots]
        return self._shots

    def _find_cuts(self) -> np.ndarray:
        from ..scene_detect import detect_scenes
        cuts = detect_scenes(self.source).cuts
        return np.asarray([len(cuts), *cuts], np.float64)   # never empty: the count leads

    def _shot_index(self, i: int) -> int:
        return bisect.bisect_right([a for a, _ in self.shots] if self._shots is None else self._starts, i) - 1

    def reference_of(self, shot: int) -> int:
        """Index of the reference that colours ``shot``: the only one; the shot's own when there is one per
        shot; otherwise (a trimmed clip, a reel with fewer or more photos than shots) the photo whose
        lightness and contrast histograms are closest to the shot's first, middle and last frames."""
        if len(self.refs) == 1:
            return 0
        if len(self.refs) == len(self.shots):
            return shot
        if shot not in self._assigned:
            if self._ref_desc is None:
                self._ref_desc = [picture_descriptor(tr.source_luma(r).astype(np.float32) / 255.0) for r in self.refs]
            a, b = self.shots[shot]
            scale = np.float32(self.info.max_value)
            descs = [picture_descriptor(tr.source_luma(self.source.frame(i)).astype(np.float32) / scale)
                     for i in sorted({a, (a + b - 1) // 2, b - 1})]
            cost = [sum(descriptor_distance(d, r) for d in descs) for r in self._ref_desc]
            self._assigned[shot] = int(np.argmin(cost))
        return self._assigned[shot]

    def segment_of(self, i: int) -> tuple[int, int]:
        """Anchors (a, b), a <= i <= b, inside frame ``i``'s shot: every ``key_interval`` from the shot's start,
        and its last frame."""
        s, e = self.shots[self._shot_index(i)]
        a = s + (i - s) // self.key_interval * self.key_interval
        return a, min(a + self.key_interval, e - 1)

    def input_range(self, start: int, stop: int) -> tuple[int, int]:
        if self.method == "global" or self.stills:
            return start, stop
        return self.segment_of(start)[0], self.segment_of(stop - 1)[1] + 1

    # -- one frame ------------------------------------------------------------------------------------
    def _lightness(self, frame: np.ndarray) -> np.ndarray:
        """The frame's CIE L (h, w) at the working size."""
        y = tr.source_luma(frame).astype(np.float32) / np.float32(self.info.max_value)
        return tr.gray_lightness(tr.resize(y, *self.work))

    def _reference_lab(self, k: int) -> np.ndarray:
        if k not in self._ref_lab:
            self._ref_lab[k] = tr.reference_lab(self.refs[k], *self.work)
        return self._ref_lab[k]

    def _match(self, frame: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(ab (h, w, 2), confidence (h, w)) of frame ``i`` by the method alone, at the working size."""
        if i in self._memo:
            return self._memo[i]
        k = self.reference_of(self._shot_index(i))
        light = self._lightness(frame)
        if self.method == "global":
            if frame.shape[-1] == 3:
                rgb = tr.resize(frame.astype(np.float32) / np.float32(self.info.max_value), *self.work)
                lab = tr.rgb_to_lab(rgb)
            else:
                lab = np.dstack([light, np.zeros_like(light), np.zeros_like(light)])
            res = (tr.global_ab(lab, self._reference_lab(k)), np.ones_like(light))
        elif self.method == "siggraph17":
            ab = self._siggraph().colorize(light, self.refs[k], work_size=self.work_size)
            res = (np.asarray(ab, np.float32).reshape(*self.work, 2), np.ones_like(light))
        else:
            res = tr.exemplar_ab(light, self._reference_lab(k), self.position)
        if len(self._memo) > 4 * self.key_interval + 8:
            self._memo.clear()
        self._memo[i] = res
        return res

    def _siggraph(self) -> Any:
        if self._colorizer is None:
            from .siggraph import Siggraph17Colorizer
            self._colorizer = Siggraph17Colorizer(self.model_path, self.device)
        return self._colorizer

    # -- a segment between two anchors ----------------------------------------------------------------
    def _segment(self, get: Any, a: int, b: int) -> list[np.ndarray]:
        """ab (h, w, 2) of frames a..b: the anchors' colour carried along the flow both ways, blended."""
        from ..interpolate import FlowInterpolator
        from ..remaster.compensate import single_threaded, warp
        import cv2
        flow = FlowInterpolator(FLOW_QUALITY, 1.0)
        lights = {i: self._lightness(get(i)) for i in range(a, b + 1)}
        flows = {}
        with single_threaded():
            for i in range(a, b):
                flows[i] = flow.flows(lights[i][..., None] / 100.0, lights[i + 1][..., None] / 100.0)

        def carry(prev: np.ndarray, i: int, f_ij: np.ndarray, f_ji: np.ndarray) -> np.ndarray:
            with single_threaded():
                w = warp(prev, f_ij, f_ji)
            rel = cv2.GaussianBlur(w.reliable, (0, 0), 2.0)[..., None]
            if 1.0 - float(rel.mean()) < SKIP_MATCH:
                return w.image    # a few stray pixels: the final guided filter evens them out
            return rel * w.image + (1.0 - rel) * self._match(get(i), i)[0]

        fwd = [self._match(get(a), a)[0]]
        for i in range(a + 1, b + 1):
            f_fw, f_bw = flows[i - 1]                 # (i-1 -> i), (i -> i-1)
            fwd.append(carry(fwd[-1], i, f_bw, f_fw))
        bwd = [self._match(get(b), b)[0]]
        for i in range(b - 1, a - 1, -1):
            f_fw, f_bw = flows[i]                     # (i -> i+1), (i+1 -> i)
            bwd.append(carry(bwd[-1], i, f_fw, f_bw))
        bwd.reverse()
        out = []
        for j, i in enumerate(range(a, b + 1)):
            t = np.float32(j / max(1, b - a))
            ab = (1 - t) * fwd[j] + t * bwd[j]
            out.append(tr.guided_filter(lights[i] / 100.0, ab, tr.GUIDE_RADIUS, tr.GUIDE_EPS))
        return out

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        h, w = self.info.height, self.info.width
        out = np.empty((stop - start, h, w, 3), self.info.dtype)

        def get(i: int) -> np.ndarray:
            return frames[i - first]

        def put(i: int, ab: np.ndarray) -> None:
            out[i - start] = tr.compose(tr.source_luma(get(i)), tr.resize(ab, h, w))

        if self.method == "global" or self.stills:
            for i in range(start, stop):
                put(i, self._match(get(i), i)[0])
            return out
        i = start
        while i < stop:
            a, b = self.segment_of(i)
            seg = self._segment(get, a, b)
            end = min(stop, b + 1 if b == self.shots[self._shot_index(i)][1] - 1 else b)
            for j in range(i, end):
                put(j, seg[j - a])
            i = end
        return out
