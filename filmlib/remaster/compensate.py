"""Motion compensation for the remaster stage: which two frames serve as a frame's temporal neighbours, and
those neighbours warped onto it with a per-pixel reliability.

Flow is the DIS optical flow of :class:`~filmlib.interpolate.FlowInterpolator` (both ways). A warped pixel is
reliable when the forward and backward flows undo each other. Where a speck is suspected, the flow (which a
large blotch drags along) is filled in from the reliable flow around it (:func:`rewarp`), so a blotch on a
smooth motion field still finds its clean counterpart in the neighbours.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from ..interpolate import FlowInterpolator, _grid

FLOW_SCALE = 0.5        # flow at half size: grain averages out, and it is 4x cheaper
FLOW_QUALITY = "medium"  # DIS medium: follows moving objects closely enough not to mistake them for dust


@contextmanager
def single_threaded() -> Iterator[None]:
    """OpenCV on one thread for a while, for calls whose worker threads cost CPU time and bring almost no
    speed at our sizes (measured on 2 cores: DIS on 320x240, 13.5 ms CPU for 6.8 ms wall on two threads,
    7.4 ms for 7.4 ms on one; a 640x480 remap, 1.3 ms CPU for 0.75 ms wall against 0.83 for 0.83; masked
    matchTemplate on a 60x60 window, 0.14 vs 0.07 ms CPU, 0.07 ms wall either way). Same results; the
    caller's setting is restored. The setting is process-wide: nested or concurrent uses (two stages in two
    threads) are counted, and the last one out restores what the first one in found."""
    import cv2
    with _THREADS_LOCK:
        if _THREADS["depth"] == 0:
            _THREADS["saved"] = cv2.getNumThreads()
            cv2.setNumThreads(1)
        _THREADS["depth"] += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS["depth"] -= 1
            if _THREADS["depth"] == 0:
                cv2.setNumThreads(_THREADS["saved"])


_THREADS_LOCK = threading.Lock()
_THREADS = {"depth": 0, "saved": 0}


def flow_signature() -> str:
    """What identifies the flow these stages use (part of their cache signature)."""
    return FlowInterpolator(FLOW_QUALITY, FLOW_SCALE).signature


def neighbours(i: int, shot: tuple[int, int]) -> tuple[int, ...]:
    """The two frames that serve frame ``i`` inside ``shot`` = [a, b): i-1 and i+1, or the two nearest on
    one side at a shot's ends (nothing is borrowed across a cut); fewer in shots of one or two frames."""
    a, b = shot
    if a < i < b - 1:
        return (i - 1, i + 1)
    if i == a:
        return tuple(j for j in (i + 1, i + 2) if j < b)
    return tuple(j for j in (i - 1, i - 2) if j >= a)


@dataclass
class Warped:
    """A neighbour warped onto the current frame: image (H, W, C) float32 and reliability (H, W) in [0, 1]."""

    image: np.ndarray
    reliable: np.ndarray
    flow: np.ndarray


class FlowCache:
    """Flows between frame pairs of one chunk, each pair computed once (both directions)."""

    def __init__(self, lumas: Callable[[int], np.ndarray], quality: str = FLOW_QUALITY):
        self._lumas = lumas
        self._flow = FlowInterpolator(quality, FLOW_SCALE)
        self._pairs: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._one: dict[tuple[int, int], np.ndarray] = {}

    def flow(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(flow i->j, flow j->i), (H, W, 2) float32 pixels."""
        key = (min(i, j), max(i, j))
        if key not in self._pairs:
            a, b = self._lumas(key[0]), self._lumas(key[1])
            with single_threaded():
                self._pairs[key] = self._flow.flows(a[..., None], b[..., None])
        fab, fba = self._pairs[key]
        return (fab, fba) if i < j else (fba, fab)

    def one_way(self, i: int, j: int) -> np.ndarray:
        """Flow i->j only, (H, W, 2) float32 pixels: the same numbers as ``flow(i, j)[0]``, but a pair not
        yet computed costs one DIS run instead of two (the chain check needs one direction of the skip pair)."""
        key = (min(i, j), max(i, j))
        if key in self._pairs:
            return self.flow(i, j)[0]
        if (i, j) not in self._one:
            with single_threaded():
                f = self._flow.flow(self._lumas(i)[..., None], self._lumas(j)[..., None])
            self._one[(i, j)] = f
        return self._one[(i, j)]

    def forget_before(self, i: int) -> None:
        """Drop pairs that no frame from ``i`` on needs (bounded memory over a chunk)."""
        for key in [k for k in self._pairs if k[1] < i - 2]:
            del self._pairs[key]
        for key in [k for k in self._one if max(k) < i - 2]:
            del self._one[key]


def _fill_flow(flow: np.ndarray, reliable: np.ndarray, sigma: float) -> np.ndarray:
    """Replace unreliable flow by the reliability-weighted average of the flow around it (computed at a
    quarter of the size: the fill is smooth by design)."""
    import cv2
    h, w = reliable.shape
    wgt = reliable.astype(np.float32)
    small = (max(1, w // 4), max(1, h // 4))
    # (numpy broadcasting a one-channel weight over two channels is several times slower than this)
    num = cv2.resize(flow * cv2.merge([wgt, wgt]), small, interpolation=cv2.INTER_AREA)
    den = cv2.resize(wgt, small, interpolation=cv2.INTER_AREA)
    num = cv2.GaussianBlur(num, (0, 0), sigma / 4.0)
    den = cv2.GaussianBlur(den, (0, 0), sigma / 4.0)
    filled = cv2.resize(num / (den[..., None] + 1e-4), (w, h), interpolation=cv2.INTER_LINEAR)
    out = flow.copy()
    cv2.copyTo(filled, (wgt <= 0.5).view(np.uint8), out)
    return out


def warp(image: np.ndarray, f_ij: np.ndarray, f_ji: np.ndarray, tol: float = 1.0) -> Warped:
    """Warp neighbour ``image`` (H, W, C) onto the current frame with flows current->neighbour (``f_ij``) and
    neighbour->current (``f_ji``)."""
    import cv2
    h, w = image.shape[:2]
    coords = _grid(h, w) + f_ij
    back = cv2.remap(f_ji, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = cv2.magnitude(f_ij[..., 0] + back[..., 0], f_ij[..., 1] + back[..., 1])
    speed = cv2.magnitude(f_ij[..., 0], f_ij[..., 1])
    ok = err < tol + 0.1 * speed
    # pixels whose flow points out of the frame have no counterpart
    mx, my = coords[..., 0], coords[..., 1]
    ok &= (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    ok = cv2.erode(ok.astype(np.float32), np.ones((3, 3), np.uint8))
    img = cv2.remap(image, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return Warped(img.reshape(image.shape), ok, f_ij)


def rewarp(wn: Warped, image: np.ndarray, hole: np.ndarray) -> Warped:
    """``wn`` again with its flow inside the (H, W) bool ``hole`` (suspected dust, whose own flow it threw off)
    filled in from the flow around it."""
    import cv2
    keep = wn.reliable * (~hole).astype(np.float32)
    flow = _fill_flow(wn.flow, keep, 8.0)
    h, w = image.shape[:2]
    img = cv2.remap(image, _grid(h, w) + flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return Warped(img.reshape(image.shape), keep, flow)


def consistent(wa: Warped, wb: Warped, f_ab: np.ndarray, luma: np.ndarray, sigma: float, tol: float = 4.0
               ) -> np.ndarray:
    """(H, W) bool: the motion to neighbour b equals the motion to neighbour a followed by the motion from a to
    b (flow a->b is computed between the two neighbours, untouched by anything on the current frame). Where it
    does not, the motion model does not explain the pixel (a moving object the flow missed, an occlusion).
    A disagreement that changes nothing visible (flat picture: gradient of ``luma`` times the error below
    twice the grain ``sigma``) still counts as consistent."""
    import cv2
    smooth = cv2.GaussianBlur(luma, (0, 0), 1.5)
    grad = cv2.magnitude(cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3))
    grad *= np.float32(0.125)   # Sobel's 3x3 kernel sums to 8 per pixel of slope
    h, w = f_ab.shape[:2]
    via = wa.flow + cv2.remap(f_ab, _grid(h, w) + wa.flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = cv2.magnitude(via[..., 0] - wb.flow[..., 0], via[..., 1] - wb.flow[..., 1])
    speed = cv2.magnitude(wb.flow[..., 0], wb.flow[..., 1])
    return (err < tol + 0.1 * speed) | (err * grad < 2.0 * sigma)


def warped_neighbours(i: int, shot: tuple[int, int], frames: Callable[[int], np.ndarray],
                      flows: FlowCache) -> list[Warped]:
    """Frame ``i``'s neighbours (see :func:`neighbours`) warped onto it."""
    out = []
    for j in neighbours(i, shot):
        f_ij, f_ji = flows.flow(i, j)
        with single_threaded():
            out.append(warp(frames(j), f_ij, f_ji))
    return out


def shot_of(i: int, segments: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The segment [a, b) that holds frame ``i``."""
    for a, b in segments:
        if a <= i < b:
            return a, b
    raise IndexError(f"frame {i} is in no shot of {list(segments)[:3]}...")
