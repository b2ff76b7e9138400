"""DeepRemaster CPU benchmark: seconds per frame at the official working size (short side 320), restoration
only (gray out) and restoration + colourisation from 4 references, through our stage (luma, resize, 5-frame
blocks, full-resolution luma, Lab -> RGB) against the same networks called bare with the official explicit
attention (energy matrix + softmax, as model/remasternet.py) in the same run. Random weights: speed only.

Clip: the first frames of ../shared/fixtures/real/Megamind_bugy.avi (720x528 -> 432x320), else a synthetic one.

    python benchmarks/bench_deepremaster.py [--frames 5]
"""
from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import WORK, report  # noqa: E402


@contextmanager
def official_attention() -> Iterator[None]:
    """SourceReferenceAttention as the official code computes it: the full (Ns x Nr) matrix, then softmax."""
    import torch
    from filmrestore.model_loaders.deepremaster import SourceReferenceAttention

    def forward(self, source, reference):
        b, c, t, h, w = source.shape
        q = self.query_conv(source).flatten(2).transpose(1, 2)
        k = self.key_conv(reference).flatten(2)
        attn = torch.softmax(torch.bmm(q, k), dim=-1)
        v = self.value_conv(reference).flatten(2)
        return self.gamma * torch.bmm(v, attn.transpose(1, 2)).view(b, c, t, h, w) + source

    saved = SourceReferenceAttention.forward
    SourceReferenceAttention.forward = forward
    try:
        yield
    finally:
        SourceReferenceAttention.forward = saved


def clip_frames(n: int) -> tuple[np.ndarray, str]:
    import realclips
    real = realclips.SHARED / "fixtures" / "real" / "Megamind_bugy.avi"
    if real.is_file():
        return realclips.read_frames(real, 0, n, gray=True), "Megamind_bugy.avi 720x528"
    rng = np.random.default_rng(0)
    base = (rng.random((528, 720)) * 255).astype(np.uint8)
    return np.stack([np.roll(base, i, 1)[..., None] for i in range(n)]), "synthetic 720x528"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=5)
    args, _ = ap.parse_known_args()
    import cv2
    import torch
    from filmrestore.filmlib.cache import configure_cache
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.remaster_deep import DeepRemasterStage, letterbox_references, working_size
    from filmrestore.model_loaders.deepremaster import NetworkC, NetworkR
    configure_cache(WORK / "cache_deepremaster", "1G", "0")
    torch.manual_seed(0)
    path = WORK / "deepremaster_models" / "remasternet.pth.tar"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"modelR": NetworkR().state_dict(), "modelC": NetworkC().state_dict()}, path)
    frames, name = clip_frames(args.frames)
    rng = np.random.default_rng(1)
    refs = [(rng.random((480, 640, 3)) * 255).astype(np.uint8) for _ in range(4)]
    tw, th = working_size(frames.shape[2], frames.shape[1], 320)
    rows: dict = {"clip": f"{name}, {len(frames)} frames, working size {tw}x{th}, 4 references 640x480",
                  "cpu": f"{torch.get_num_threads()} torch threads"}
    film = ArrayFilm(frames, Fraction(24))
    timings = {}
    for label, r in (("restore", None), ("restore_colour_4refs", refs)):
        st = DeepRemasterStage(film, str(path), r, work_size=320, full_res_luma=True, device="cpu")
        st.cache_policy = "none"
        st._models()                                                  # loading is not part of the per-frame cost
        t0, c0 = time.perf_counter(), time.process_time()
        st.read(0, len(frames))
        timings[label] = ((time.perf_counter() - t0) / len(frames), (time.process_time() - c0) / len(frames))
    net_r, net_c = NetworkR(), NetworkC()
    sd = torch.load(path, weights_only=True)
    net_r.load_state_dict(sd["modelR"])
    net_c.load_state_dict(sd["modelC"])
    net_r.eval(), net_c.eval()
    x = np.stack([cv2.resize(f[..., 0], (tw, th), interpolation=cv2.INTER_LINEAR) for f in frames]) / 255.0
    blocks = [torch.from_numpy(x[a:a + 5].astype(np.float32))[None, None] for a in range(0, len(x), 5)]
    ref_t = torch.from_numpy(letterbox_references(refs))[None]
    plain = {}
    with torch.inference_mode(), official_attention():
        t0, c0 = time.perf_counter(), time.process_time()
        for b in blocks:
            net_r(b)
        plain["restore"] = ((time.perf_counter() - t0) / len(frames), (time.process_time() - c0) / len(frames))
        t0, c0 = time.perf_counter(), time.process_time()
        for b in blocks:
            net_c(net_r(b), ref_t)
        plain["restore_colour_4refs"] = ((time.perf_counter() - t0) / len(frames),
                                         (time.process_time() - c0) / len(frames))
    for label, (wall, cpu) in timings.items():
        rows[label] = {"stage_wall_s_per_frame": round(wall, 2), "stage_cpu_s_per_frame": round(cpu, 2),
                       "official_style_wall_s_per_frame": round(plain[label][0], 2),
                       "official_style_cpu_s_per_frame": round(plain[label][1], 2),
                       "cpu_ratio_stage_over_official_style": round(cpu / plain[label][1], 3)}
    report("deepremaster", rows)


if __name__ == "__main__":
    main()
