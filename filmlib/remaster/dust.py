"""Dust and blotches: motion-compensated spike detection and repair from the warped neighbours.

A pixel is a spike when it differs from both motion-compensated neighbours in the same direction while the two
neighbours agree with each other (Kokaram's spike detection index, SDIp, with the neighbour-agreement check of
the ROD detector): dust lives one frame, so the frames either side show what is under it. Moving objects and
occlusions make the neighbours disagree, so they are never taken for dust. Thresholds scale with the measured
grain, so grain is not taken for dust either. Detection is two-level (hysteresis): strong seeds grow into
the weaker soft edge of the same speck.

Where the flow misses a moving object, its edge can pass the spike test; three checks keep it: the blob must
not reappear, displaced, in a raw neighbour (:func:`drop_moving`), nor show up in both compensated
neighbours as a patch of its own brightness at positions that line up in time (:func:`drop_displaced`: a
small object moving over a background the flow follows); the picture in a ring around it must be matched by
the compensated neighbours and its motion must chain through both (:func:`drop_unexplained`).

At a shot's first and last frames both neighbours lie on one side (t+1 and t+2, or t-1 and t-2), and the
spike test runs against those two: dust is still in neither. What a moving object uncovers just after the
frame (or covered just before it) is then in neither either, and looks like dust; it lies at the edges of
the motion between the two neighbours, or it is some of what the neighbours show nearby (an opening mouth), so
blobs at those edges (:func:`drop_at_motion_edges`) and blobs mostly within the range of the neighbours
around them (:func:`drop_in_range`) are left alone, and the threshold is higher.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..interpolate import _grid
from .compensate import Warped, single_threaded

MOVING_RATIO = 0.3
MIN_SEED = 0.06           # a seed differs from both neighbours by at least 6 % of full scale
CLEAN_RING = 0.98
DISPLACED_SHARE = 0.3


@dataclass
class Blobs:
    """The 8-connected blobs of a spot mask, labelled once, and which of them are still kept (``keep[0]``, the
    background, is False). The drop_* checks judge each blob on its own, so they can share one labelling and
    skip blobs an earlier check dropped; the result is the same as masking and relabelling between them."""

    labels: np.ndarray
    boxes: np.ndarray
    cents: np.ndarray
    keep: np.ndarray

    @classmethod
    def of(cls, spots: np.ndarray) -> "Blobs":
        import cv2
        n, labels, boxes, cents = cv2.connectedComponentsWithStats(spots.astype(np.uint8), connectivity=8)
        keep = np.ones(n, bool)
        keep[0] = False
        return cls(labels, boxes, cents, keep)

    def mask(self) -> np.ndarray:
        """(H, W) bool mask of the kept blobs."""
        return self.keep[self.labels]


def _blobs(spots: "np.ndarray | Blobs") -> tuple[Blobs, bool]:
    return (spots, True) if isinstance(spots, Blobs) else (Blobs.of(spots), False)


def noise_sigma(cur: np.ndarray, prev: np.ndarray, nxt: np.ndarray) -> float:
    """Grain RMS of the (H, W) luma ``cur`` from its differences to the two warped neighbours (robust MAD)."""
    sel = (cur - 0.5 * (prev + nxt)).ravel()
    mad = float(np.median(np.abs(sel[:: max(1, sel.size // 50000)])))
    # var(cur - mean of two) = 1.5 var(grain) for independent grain
    return max(1.0 / 255.0, 1.4826 * mad / np.sqrt(1.5))


def detect(cur: np.ndarray, prev: np.ndarray, nxt: np.ndarray, sigma: float,
           strength: float, exclude: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool mask of dust and blotches on luma ``cur`` given the warped neighbours (all (H, W) float32)
    and the grain RMS ``sigma``.

    ``strength`` in [0, 1]: 0 takes only glaring specks, 1 anything above the grain; ``exclude`` (bool),
    pixels not to take (scratches already repaired).
    """
    import cv2
    k_hi = 7.0 - 3.5 * strength     # seed threshold in grain sigmas
    k_lo = 0.55 * k_hi              # growth threshold
    ep, en = cur - prev, cur - nxt
    same = (ep * en) > 0
    weaker = np.minimum(np.abs(ep), np.abs(en))
    # the neighbours must agree with each other far better than either agrees with the current pixel, pixel
    # by pixel and over a small window (a moving edge can agree at a pixel by chance, not over a window)
    pn = prev - nxt
    agree = (np.abs(pn) < 2.5 * sigma + 0.5 * weaker) & (np.abs(cv2.blur(pn, (5, 5))) < 1.5 * sigma + 0.35 * weaker)
    cand = same & agree
    if exclude is not None:
        cand &= ~exclude
    # on clean, grainless footage the grain level is tiny: a speck must still be visible to be one
    seeds = cand & (weaker > max(k_hi * sigma, MIN_SEED))
    if not seeds.any():
        return seeds
    grow = (cand & (weaker > max(k_lo * sigma, 0.5 * MIN_SEED))) | seeds
    # a speck is a compact blob: keep the grow components that contain a seed
    n, labels = cv2.connectedComponents(grow.astype(np.uint8), connectivity=8)
    hit = np.zeros(n, bool)
    hit[np.unique(labels[seeds])] = True
    hit[0] = False
    found = hit[labels]
    # the soft edge of a found speck, two pixels out, where it still pulls the same way
    ker = np.ones((5, 5), np.uint8)
    near_bright = cv2.dilate((found & (ep > 0)).astype(np.uint8), ker).astype(bool)
    near_dark = cv2.dilate((found & (ep < 0)).astype(np.uint8), ker).astype(bool)
    edge = cand & (weaker > max(1.5 * sigma, 0.25 * MIN_SEED)) & ((near_bright & (ep > 0)) | (near_dark & (ep < 0)))
    return found | edge


def drop_moving(spots: np.ndarray, cur: np.ndarray, raw_neighbours: list[np.ndarray],
                compensated: list[np.ndarray], flows: list[np.ndarray]) -> np.ndarray:
    """``spots`` without the blobs that a neighbouring frame shows nearby: a thin moving object (a car's edge,
    a swinging arm) can pass the spike test where the flow failed, but it is in the neighbours, displaced;
    dust is in no other frame. Each blob with a margin is searched for in the raw (H, W) neighbours within
    the local motion plus a margin; it is dropped when the best match there is far closer than the
    ``compensated`` (warped) neighbours are.

    Like the other drop_* checks, takes and returns a bool mask, or a :class:`Blobs` (labelled once for all
    of them)."""
    import cv2
    bl, given = _blobs(spots)
    labels, boxes, keep = bl.labels, bl.boxes, bl.keep
    h, w = cur.shape
    margin = 3
    ker = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    with single_threaded():   # tiny patches (see single_threaded)
        for k in np.flatnonzero(keep):
            x, y, bw, bh, area = boxes[k]
            x0, y0 = max(0, x - margin), max(0, y - margin)
            x1, y1 = min(w, x + bw + margin), min(h, y + bh + margin)
            tpl = cur[y0:y1, x0:x1]
            blob = (labels[y0:y1, x0:x1] == k)
            # the blob's outline, inside and out: flat dust cannot match flat picture, and the inside of a large
            # uniform blotch would match any uniform patch
            b8 = blob.astype(np.uint8)
            tmask = (cv2.dilate(b8, ker) - cv2.erode(b8, ker, borderType=cv2.BORDER_CONSTANT, borderValue=0))
            tmask = tmask.astype(np.float32)
            for raw, comp, flow in zip(raw_neighbours, compensated, flows):
                # the dust hypothesis: what the compensated neighbour shows here is what lies under the blob
                hyp = float((((tpl - comp[y0:y1, x0:x1]) ** 2) * tmask).sum())
                reach = int(min(48.0, 16 + 1.5 * float(np.abs(flow[y0:y1, x0:x1]).max())))
                sx0, sy0 = max(0, x0 - reach), max(0, y0 - reach)
                sx1, sy1 = min(w, x1 + reach), min(h, y1 + reach)
                res = cv2.matchTemplate(raw[sy0:sy1, sx0:sx1], tpl, cv2.TM_SQDIFF, mask=tmask)
                # the blob itself somewhere near in the neighbour explains it far better: a moving object
                if float(res.min()) < MOVING_RATIO * hyp:
                    keep[k] = False
                    break
    return bl if given else bl.mask()


def drop_displaced(spots: np.ndarray, cur: np.ndarray, compensated: list[np.ndarray], offsets: tuple[int, ...],
                   sigma: float, share: float = DISPLACED_SHARE, slack: float = 0.0) -> np.ndarray:
    """``spots`` without the blobs that both compensated (H, W) neighbours show displaced along one motion: a
    small object moving over a background the flow follows (a pedestrian behind a fence) leaves background in
    place of the blob in the neighbours, as dust does, but the neighbours show a patch of the blob's own
    brightness nearby where the current frame shows background, at positions that line up with the frames'
    ``offsets`` in time (-1 and +1 steps either way, or +1 and +2 at a shot's start). Dust is in no other frame.
    A patch counts when it covers at least ``share`` of the blob's area; the positions may be off the line by
    1.5 px plus a quarter of the motion plus ``slack`` times the blob's size (a walker's patch changes shape)."""
    if len(compensated) < 2:
        return spots
    bl, given = _blobs(spots)
    labels, boxes, cents, keep = bl.labels, bl.boxes, bl.cents, bl.keep
    h, w = cur.shape
    t = np.asarray(offsets, np.float64)
    for k in np.flatnonzero(keep):
        x, y, bw, bh, area = boxes[k]
        reach = 8 + max(bw, bh)
        x0, y0, x1, y1 = max(0, x - reach), max(0, y - reach), min(w, x + bw + reach), min(h, y + bh + reach)
        blob = labels[y0:y1, x0:x1] == k
        c = cur[y0:y1, x0:x1]
        level = float(c[blob].mean())
        under = 0.5 * sum(float(comp[y0:y1, x0:x1][blob].mean()) for comp in compensated)
        contrast = abs(level - under)
        if contrast < 3.0 * sigma:
            continue
        outside = ~blob        # a slow object's patch overlaps the blob: only the part beside it counts
        found = []
        for comp in compensated:
            o = comp[y0:y1, x0:x1]
            # the neighbour shows the blob's brightness where the current frame does not
            like = (np.abs(o - level) < 0.35 * contrast) & (np.abs(o - c) > 0.5 * contrast) & outside
            ys, xs = np.nonzero(like)
            if len(ys) < share * area:
                break
            found.append(np.array([xs.mean() + x0, ys.mean() + y0]) - cents[k])
        if len(found) < 2:
            continue
        d = np.asarray(found)                       # displacement of the patch in each neighbour
        v = (t[:, None] * d).sum(0) / (t * t).sum()  # one velocity for both
        miss = float(np.abs(d - t[:, None] * v).max())
        speed = float(np.hypot(*v))
        keep[k] = not (speed >= 1.0 and miss <= 1.5 + 0.25 * speed + slack * max(bw, bh))
    return bl if given else bl.mask()


def drop_unexplained(spots: np.ndarray, chained: np.ndarray, share: float = 0.5,
                     matched: np.ndarray | None = None, matched_share: float = 0.7) -> np.ndarray:
    """``spots`` without the blobs whose surroundings the motion model does not explain: fewer than ``share``
    of the pixels in a ring around the blob have motion that chains (``chained``, see
    :func:`~.compensate.consistent`), or fewer than ``matched_share`` are ``matched`` (the current pixel
    agrees with at least one compensated neighbour); a ring matched almost everywhere (CLEAN_RING) excuses
    motion that does not chain. The ring, not the blob: dust throws off the flow under itself, while the
    picture around a speck is clean; around the edge of a moving object it is not."""
    import cv2
    bl, given = _blobs(spots)
    labels, boxes, keep = bl.labels, bl.boxes, bl.keep
    h, w = labels.shape
    ker = np.ones((7, 7), np.uint8)
    for k in np.flatnonzero(keep):
        x, y, bw, bh, _ = boxes[k]
        x0, y0, x1, y1 = max(0, x - 4), max(0, y - 4), min(w, x + bw + 4), min(h, y + bh + 4)
        blob = (labels[y0:y1, x0:x1] == k).astype(np.uint8)
        ring = cv2.dilate(blob, ker).astype(bool) & ~cv2.dilate(blob, np.ones((3, 3), np.uint8)).astype(bool)
        if not ring.any():
            keep[k] = False
            continue
        chain = float(chained[y0:y1, x0:x1][ring].mean())
        match = float(matched[y0:y1, x0:x1][ring].mean()) if matched is not None else 1.0
        # flow that does not chain is forgiven where the picture all around is matched nearly everywhere
        # (fast motion breaks the chain; the edge of a moving object leaves unmatched pixels beside it)
        keep[k] = (chain >= share or match >= CLEAN_RING) and match >= matched_share
    return bl if given else bl.mask()


def suspects(cur: np.ndarray, prev: np.ndarray, nxt: np.ndarray, sigma: float, strength: float) -> np.ndarray:
    """(H, W) bool: pixels that differ from both warped neighbours in the same direction, grown by a margin,
    without the neighbour-agreement test; their flow is redone from the flow around them before detection,
    because a blotch drags the flow computed on its own frame along with it."""
    import cv2
    k_hi = 7.0 - 3.5 * strength
    ep, en = cur - prev, cur - nxt
    weaker = np.where(ep * en > 0, np.minimum(np.abs(ep), np.abs(en)), 0.0)
    sus = (cv2.blur(weaker, (3, 3)) > 0.6 * k_hi * sigma).astype(np.uint8)
    if not sus.any():
        return sus.astype(bool)
    return cv2.dilate(sus, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))).astype(bool)


def repair(cur: np.ndarray, mask: np.ndarray, warped: list[Warped]) -> tuple[np.ndarray, np.ndarray]:
    """Repair float (H, W, C) ``cur`` under ``mask`` from the warped neighbours; returns (frame, repaired mask).

    Inside the speck: the mean of the two compensated frames. On its one-pixel rim (antialiased edge, not
    always detected): the median of the current and the two compensated pixels, which keeps the current pixel
    whenever it is not an outlier.
    """
    import cv2
    out = cur.copy()
    if not mask.any() or len(warped) < 2:
        return out, np.zeros(mask.shape, bool)
    h, w = mask.shape
    flat = lambda a: a.reshape(h * w, -1)   # noqa: E731  (pixels by channel, indexed by flat position)
    p, q, o, c = flat(warped[0].image), flat(warped[1].image), flat(out), flat(cur)
    core = mask
    rim = cv2.dilate(core.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~core
    ic, ir = np.flatnonzero(core), np.flatnonzero(rim)
    o[ic] = 0.5 * (p[ic] + q[ic])
    a, b, z = c[ir], p[ir], q[ir]
    med = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), z))   # the median of three
    o[ir] = med
    # the rim counts as repaired only where the median changed it visibly
    changed = np.zeros(h * w, bool)
    changed[ir] = np.abs(med - a).max(axis=1) > 0.06
    return out, core | changed.reshape(h, w)


def motion_edges(f_ab: np.ndarray, f_a: np.ndarray, limit: float = 1.5, size: int = 9) -> np.ndarray:
    """(H, W) bool: where the motion between the two neighbours (``f_ab``, (H, W, 2) float32 flow a->b, seen
    from the current frame through its flow to a, ``f_a``) varies by more than ``limit`` px plus a tenth of
    its speed within a ``size`` window: the edge of a moving object, where it covers and uncovers things."""
    import cv2
    h, w = f_ab.shape[:2]
    flow = cv2.remap(f_ab, _grid(h, w) + f_a, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ker = np.ones((size, size), np.uint8)
    spread = np.zeros((h, w), np.float32)
    for k in range(2):
        f = np.ascontiguousarray(flow[..., k])
        spread = np.maximum(spread, cv2.dilate(f, ker) - cv2.erode(f, ker))
    return spread > limit + 0.1 * cv2.magnitude(flow[..., 0], flow[..., 1])


def drop_at_motion_edges(spots: "np.ndarray | Blobs", edges: np.ndarray) -> "np.ndarray | Blobs":
    """``spots`` without the blobs that come within two pixels of the (H, W) bool ``edges`` (see
    :func:`motion_edges`)."""
    import cv2
    bl, given = _blobs(spots)
    if bl.keep.any():
        near = cv2.dilate(edges.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        bl.keep[np.unique(bl.labels[near])] = False
        bl.keep[0] = False
    return bl if given else bl.mask()


def drop_in_range(spots: "np.ndarray | Blobs", cur: np.ndarray, compensated: list[np.ndarray], sigma: float,
                  radius: int = 2, share: float = 0.15) -> "np.ndarray | Blobs":
    """``spots`` without the blobs whose (H, W) luma ``cur`` is mostly within the range the compensated (H, W)
    neighbours show within ``radius`` px (widened by three grain sigmas), after rank-ordered differences (the
    ROD detector): a blob is kept when at least ``share`` of it is darker or brighter than anything there.
    A mouth that opens, an ear that turns, is some of what is nearby; dust is darker or brighter than it."""
    import cv2
    bl, given = _blobs(spots)
    if not bl.keep.any():
        return bl if given else bl.mask()
    ker = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    lo = np.minimum(*[cv2.erode(c, ker) for c in compensated]) - 3.0 * sigma
    hi = np.maximum(*[cv2.dilate(c, ker) for c in compensated]) + 3.0 * sigma
    beyond = ((cur < lo) | (cur > hi)).astype(np.float64)
    n = len(bl.keep)
    count = np.bincount(bl.labels.ravel(), minlength=n)
    hits = np.bincount(bl.labels.ravel(), weights=beyond.ravel(), minlength=n)
    bl.keep &= hits >= share * np.maximum(count, 1)
    return bl if given else bl.mask()
