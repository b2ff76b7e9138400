"""Model upscale benchmark: seconds per 720p frame for tiled inference of random-init SRVGGNetCompact x4 (the
realesr-general-x4v3 size) and RRDBNet x4 (RealESRGAN_x4plus size) through our ImageModel, against the same
network called untiled in plain torch.

    python benchmarks/bench_models.py [--frames 1]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=1)
    ap.add_argument("--height", type=int, default=720)
    args, _ = ap.parse_known_args()
    import spandrel
    import torch
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN
    from filmrestore.model_loaders.spandrel_models import ImageModel
    h, w = args.height, args.height * 16 // 9
    torch.manual_seed(0)
    nets = {"SRVGGNetCompact_x4": Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4),
            "RRDBNet_x4": ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)}
    rows: dict = {"frame": f"{w}x{h} RGB, CPU, {torch.get_num_threads()} threads"}
    frames = np.random.default_rng(0).random((args.frames, h, w, 3)).astype(np.float32)
    for name, net in nets.items():
        desc = spandrel.ModelLoader().load_from_state_dict(net.state_dict()).eval()
        ours = ImageModel(desc, name, device="cpu", precision="fp32", tile=512, batch=1)
        t0 = time.perf_counter()
        ours(frames)
        tiled = (time.perf_counter() - t0) / args.frames
        net = net.eval()
        with torch.inference_mode():
            t0 = time.perf_counter()
            for f in frames:
                net(torch.from_numpy(f).permute(2, 0, 1)[None])
            plain = (time.perf_counter() - t0) / args.frames
        rows[name] = {"ours_tiled_s_per_frame": round(tiled, 2), "plain_torch_untiled_s_per_frame": round(plain, 2),
                      "ratio_ours_over_plain": round(tiled / plain, 3)}
    report("models", rows)


if __name__ == "__main__":
    main()
