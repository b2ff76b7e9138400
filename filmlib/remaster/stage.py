"""The classical remaster stage: flicker, then scratches, dust and blotches, then grain, per frame, from the
frame and its two motion-compensated neighbours within the shot.

Memory is flat in clip length: an analysis pass keeps a few numbers per frame (flicker statistics, cuts), and
frames are computed chunk by chunk with two frames of context either side. The defect mask (255 dust and
blotches, 128 scratches) is computed with the frames and cached beside them; :class:`DefectMaskStage` reads it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from ..clip import Film, Stage
from ..cuts import is_cut
from ..errors import InputError
from ..frames import from_float, luma, to_float
from . import dust, flicker, grain, scratches
from ..interpolate import _grid
from .compensate import (FlowCache, consistent, flow_signature, neighbours, rewarp, shot_of, single_threaded,
                         warped_neighbours)

DUST, SCRATCH = 255, 128
ANALYSIS_WIDTH = 160
ONE_SIDED_STRENGTH = 0.5   # dust sensitivity at a shot's ends, relative to dust_strength
ONE_SIDED_SLACK = 0.25     # and how loosely a blob seen displaced in both neighbours counts as moving there


@dataclass(frozen=True)
class RemasterParams:
    """Switches and strengths of the classical method (strengths in [0, 1])."""

    dust: bool = True
    dust_strength: float = 0.75  # detection sensitivity: 0 glaring specks only, 1 anything above the grain
    scratches: bool = True
    scratch_strength: float = 0.5     # 0 strong lines only, 1 faint ones too
    flicker: bool = True
    flicker_window: int = 25          # frames: brightness changes slower than this are kept
    flicker_spatial: float = 0.5      # 0 global gain and offset only, 1 full spatial gain map
    grain: float = 0.7                # 0 keeps all grain, 1 removes as much as it can

    def __post_init__(self) -> None:
        for name in ("dust_strength", "scratch_strength", "flicker_spatial", "grain"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {v}")
        if self.flicker_window < 3:
            raise InputError(f"flicker_window must be at least 3 frames, got {self.flicker_window}")


def segments(n: int, cuts: Sequence[int]) -> list[tuple[int, int]]:
    """[a, b) shots of a clip of ``n`` frames cut at ``cuts``."""
    bounds = [0] + sorted(c for c in set(cuts) if 0 < c < n) + [n]
    return list(zip(bounds, bounds[1:]))


class RemasterStage(Stage):
    """Classical film remastering (see the module docstring); ``cuts`` (first frames of shots) or, when None,
    cuts found in the analysis pass bound every temporal window."""

    name = "remaster"
    version = "4"  # 4: dust at a shot's ends from the two frames on its one side
    context = 2

    def __init__(self, source: Film, params: RemasterParams = RemasterParams(), cuts: Sequence[int] | None = None,
                 progress: Optional[Callable[[int, int, Optional[np.ndarray]], None]] = None):
        self.cuts = sorted(set(cuts)) if cuts is not None else None
        # the flow's own signature: a change in how the shared optical flow is computed changes our output
        super().__init__(source, {**asdict(params), "cuts": self.cuts, "flow": flow_signature()})
        self.remaster = params
        self.progress = progress

    # -- analysis -------------------------------------------------------------------------------------
    def analysis(self) -> dict[str, np.ndarray]:
        """``corr`` (n, k) flicker corrections and ``cuts``; one streaming pass, cached."""
        return self.cached_analysis(self._analyse, self._unpack)

    def _unpack(self, packed: np.ndarray) -> dict[str, np.ndarray]:
        n = self.info.frame_count
        k = 2 + flicker.GRID[0] * flicker.GRID[1]
        return {"corr": packed[: n * k].reshape(n, k), "cuts": packed[n * k:].astype(int)}

    def _analyse(self) -> np.ndarray:
        n = self.info.frame_count
        stats, found, prev = [], [], None
        for first, chunk in self.source.scaled_chunks(ANALYSIS_WIDTH):
            for j, f in enumerate(chunk):
                stats.append(flicker.frame_stats(f))
                if self.cuts is None and prev is not None and is_cut(prev, f):
                    found.append(first + j)
                prev = f
            if self.progress is not None:
                self.progress(first + len(chunk), n, None)
        cuts = self.cuts if self.cuts is not None else found
        p = self.remaster
        if p.flicker:
            corr = flicker.corrections(stats, segments(n, cuts), p.flicker_window, p.flicker_spatial)
        else:
            corr = np.zeros((n, 2 + flicker.GRID[0] * flicker.GRID[1]))
            corr[:, 0] = 1.0
        return np.concatenate([corr.ravel(), np.asarray(cuts, np.float64)])

    @property
    def shots(self) -> list[tuple[int, int]]:
        return segments(self.info.frame_count, self.analysis()["cuts"].tolist())

    def repaired_counts(self) -> np.ndarray:
        """(n, 2) int64: pixels repaired in each frame as dust and blotches, and as line scratches (the defect
        mask's 255 and 128); reads the cached masks, computing the chunks that have none."""
        counts = np.zeros((self.info.frame_count, 2), np.int64)
        for first, m in DefectMaskStage(self).chunks():
            counts[first:first + len(m), 0] = np.count_nonzero(m == DUST, axis=(1, 2, 3))
            counts[first:first + len(m), 1] = np.count_nonzero(m == SCRATCH, axis=(1, 2, 3))
        return counts

    # -- frames ---------------------------------------------------------------------------------------
    def mask_key(self, k: int) -> str:
        return f"{self.signature}-mask-{self.chunk_frames}-{k}"

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        out, mask = self.compute_both(frames, first, start, stop)
        size = self.chunk_frames
        k = start // size
        whole_chunk = start % size == 0 and stop == min(self.info.frame_count, start + size)
        if self.cache_policy != "none" and whole_chunk:
            self.cache.put(self.mask_key(k), mask, disk=self.cache_policy == "disk")
        return out

    def compute_both(self, frames: np.ndarray, first: int, start: int, stop: int
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Output frames and the defect mask (n, H, W, 1) uint8 for ``[start, stop)``."""
        import cv2
        p = self.remaster
        corr = self.analysis()["corr"]
        shots = self.shots
        h, w, c = self.info.frame_shape
        fixed = {i: flicker.apply(to_float(frames[i - first]), corr[i]) for i in range(first, first + len(frames))}
        lumas = {i: luma(f) for i, f in fixed.items()}
        flows = FlowCache(lambda i: np.clip(lumas[i], 0, 1))
        lines: dict[int, list[scratches.Line]] = {}

        def frame_lines(i: int) -> list[scratches.Line]:
            if i not in lines:   # from the frame alone, so any chunking finds the same lines
                lines[i] = scratches.candidates(lumas[i], scratches.grain_level(lumas[i]), p.scratch_strength)
            return lines[i]

        out = np.empty((stop - start, h, w, c), self.info.dtype)
        mask = np.zeros((stop - start, h, w, 1), np.uint8)
        for i in range(start, stop):
            shot = shot_of(i, shots)
            cur, y = fixed[i], lumas[i]
            warped = warped_neighbours(i, shot, lambda j: fixed[j], flows)
            wy = [_luma(wn.image) for wn in warped]
            if len(warped) == 2:
                sigma = dust.noise_sigma(y, wy[0], wy[1])
            elif warped:
                sigma = dust.noise_sigma(y, wy[0], wy[0]) * np.sqrt(1.5 / 2.0)
            else:
                sigma = 0.02
            m = np.zeros((h, w), np.uint8)
            if p.scratches:
                mine = [ln for ln in scratches.persistent(frame_lines(i), [frame_lines(j) for j in (i - 1, i + 1)
                                                                          if shot[0] <= j < shot[1]])
                        if not scratches.moves_with_scene(ln, y, warped)]
                if mine:
                    # nearest neighbour copies values: a uint8 mask warps to the same mask as a float one
                    bands = [cv2.remap(scratches.band_mask(frame_lines(j), h, w).view(np.uint8),
                                       _coords(wn.flow), None, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE) > 0
                             for wn, j in zip(warped, neighbours(i, shot))]
                    cur = scratches.repair(cur, mine, warped, bands, sigma)
                    m[scratches.band_mask(mine, h, w)] = SCRATCH
                    y = luma(cur)
            if p.dust and len(warped) == 2:
                warped, spots = self._dust(i, shot, y, warped, wy, sigma, m > 0, fixed, lumas, flows)
                cur, repaired = dust.repair(cur, spots, warped)
                m[repaired & (m == 0)] = DUST
                y = luma(cur)
            if p.grain > 0 and warped:
                cur = grain.denoise(cur, y, warped, sigma, p.grain)
            out[i - start] = from_float(np.clip(cur, 0, 1), self.info.dtype).reshape(h, w, c)
            mask[i - start, ..., 0] = m
            flows.forget_before(i)
        if self.progress is not None:
            self.progress(stop, self.info.frame_count, None)
        return out, mask

    def _dust(self, i: int, shot: tuple[int, int], y: np.ndarray, warped: list, wy: list[np.ndarray],
              sigma: float, exclude: np.ndarray, fixed: dict, lumas: dict, flows: FlowCache
              ) -> tuple[list, np.ndarray]:
        """(warped neighbours, redone where dust was suspected; (H, W) bool mask of the specks to repair)."""
        p = self.remaster
        ids = neighbours(i, shot)
        one_sided = (ids[0] - i) * (ids[1] - i) > 0
        sus = dust.suspects(y, wy[0], wy[1], sigma, p.dust_strength)
        if sus.any():
            # a blotch drags the flow computed on its own frame, at a shot's ends as anywhere else
            with single_threaded():
                warped = [rewarp(wn, fixed[j], sus) for wn, j in zip(warped, ids)]
            wy = [_luma(wn.image) for wn in warped]
        # the motion must chain (current -> a -> b equals current -> b) around each blob
        f_ab = flows.one_way(ids[0], ids[1])
        with single_threaded():
            chained = consistent(warped[0], warped[1], f_ab, wy[0], sigma)
        strength = p.dust_strength * ONE_SIDED_STRENGTH if one_sided else p.dust_strength
        spots = dust.detect(y, wy[0], wy[1], sigma, strength, exclude=exclude)
        matched = np.minimum(np.abs(y - wy[0]), np.abs(y - wy[1])) < 3.0 * sigma
        spots = dust.drop_unexplained(dust.Blobs.of(spots), chained, 0.3, matched, 0.45)
        if one_sided:
            # with both neighbours on one side, what a moving object uncovers after this frame looks the same
            # in both, like dust; it happens at the edges of the motion between the two neighbours (flow a->b,
            # which no defect on this frame touches), so no blob there counts
            with single_threaded():
                edges = dust.motion_edges(f_ab, warped[0].flow)
            spots = dust.drop_at_motion_edges(spots, edges)
            spots = dust.drop_in_range(spots, y, wy, sigma)
        spots = dust.drop_moving(spots, y, [lumas[j] for j in ids], wy, [flows.flow(i, j)[0] for j in ids])
        spots = dust.drop_displaced(spots, y, wy, tuple(j - i for j in ids), sigma,
                                    slack=ONE_SIDED_SLACK if one_sided else 0.0).mask()
        return warped, spots


def _luma(image: np.ndarray) -> np.ndarray:
    return image[..., 0] if image.shape[-1] == 1 else luma(image)


def _coords(flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    return _grid(h, w) + flow


class DefectMaskStage(Stage):
    """The defect mask of a :class:`RemasterStage`: (H, W, 1) uint8, 255 dust and blotches, 128 scratches."""

    name = "remaster-mask"
    version = "1"
    cache_policy = "none"   # the remaster stage caches the masks it computes

    def __init__(self, remaster: RemasterStage):
        info = remaster.info.with_(channels=1, bit_depth=8, audio=None)
        super().__init__(remaster, {}, info=info)
        self.remaster_stage = remaster

    @property
    def chunk_frames(self) -> int:
        return self.remaster_stage.chunk_frames   # chunk k here is chunk k there

    def input_range(self, start: int, stop: int) -> tuple[int, int]:
        return start, start

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        st = self.remaster_stage
        k = start // self.chunk_frames
        mask = st.cache.get(st.mask_key(k), disk=st.cache_policy == "disk") if st.cache_policy != "none" else None
        if mask is None or len(mask) != stop - start:
            st.read(start, stop)     # computes the chunk (and its mask) unless it is cached
            mask = st.cache.get(st.mask_key(k), disk=st.cache_policy == "disk")
        if mask is None or len(mask) != stop - start:
            # the frames came from the cache but the mask was evicted: compute both again
            a, b = st.input_range(start, stop)
            _, mask = st.compute_both(st.source.read(a, b), a, start, stop)
        return mask
