"""Regenerate the example workflows: ``python example_workflows/build_examples.py``.

The JSON files are what ComfyUI's template browser and ``make restore`` load; this script keeps them in step
with the node definitions (widget order, defaults) and writes ``widgets_values`` in the front end's own layout.
A node is ``{"id", "type", "widgets": {name: value}, "links": {input: (source id, output slot)}}`` (optional
``mode``, ``title``, ``controls``); widgets not named take their defaults. To add a stage, add its dict and point
the next node's link at it, then run this script. tests/test_runner.py fails when a file is stale;
tests/test_frontend.py runs every file in ComfyUI's real frontend.
"""
from __future__ import annotations

import json
from pathlib import Path

from filmrestore import NODE_CLASS_MAPPINGS
from filmrestore.runner.build import ui_workflow

HERE = Path(__file__).parent

EXAMPLES = {
    # the workflow `make restore` runs: weight-free methods only, fast on a laptop CPU
    "restore_sample.json": [
        {"id": 1, "type": "FilmLoadVideo", "widgets": {"video": "sample/old_film.mp4"}},
        {"id": 6, "type": "FilmSceneDetect", "links": {"film": (1, 0)}},
        {"id": 7, "type": "FilmStabilize", "links": {"film": (1, 0), "scenes": (6, 0)}},
        # dust, scratches, flicker and grain go before deblurring (which would sharpen them) and interpolation
        # (which would smear each speck into the in-between frames); flows are small once stabilised
        {"id": 8, "type": "FilmRemaster", "widgets": {"method": "classical"},
         "links": {"film": (7, 0), "scenes": (6, 0)}},
        # colour from one reference photo per shot (the sample writes them), on the repaired frames and before
        # the upscale: matching works at a working size anyway, and flicker-free colour is cheaper small
        {"id": 10, "type": "FilmLoadPhotos", "title": "Reference photos (one per shot)",
         "widgets": {"photos": "sample/references/"}},
        {"id": 11, "type": "FilmReferenceColorize", "widgets": {"method": "transfer"},
         "links": {"references": (10, 0), "film": (8, 0), "scenes": (6, 0)}},
        {"id": 3, "type": "FilmDeblur", "widgets": {"method": "richardson_lucy"}, "links": {"film": (11, 0)}},
        {"id": 4, "type": "FilmUpscale", "widgets": {"method": "lanczos", "factor": 2.0}, "links": {"film": (3, 0)}},
        {"id": 5, "type": "FilmInterpolate", "widgets": {"method": "flow", "fps": 24.0},
         "links": {"film": (4, 0), "scenes": (6, 0)}},
        {"id": 2, "type": "FilmSaveVideo", "widgets": {"filename_prefix": "FilmRestore/restored"},
         "links": {"film": (5, 0), "compare": (1, 0)}},
    ],
    "silent_film_to_60fps.json": [
        {"id": 1, "type": "FilmLoadVideo", "widgets": {"video": "sample/old_film.mp4", "force_fps": 16.0}},
        {"id": 2, "type": "FilmInterpolate", "widgets": {"method": "flow", "fps": 60.0}, "links": {"film": (1, 0)}},
        {"id": 3, "type": "FilmSaveVideo", "widgets": {"filename_prefix": "FilmRestore/smooth60"},
         "links": {"film": (2, 0)}},
    ],
    "shots_and_stabilize.json": [
        {"id": 1, "type": "FilmLoadVideo", "widgets": {"video": "sample/old_film.mp4"}},
        {"id": 2, "type": "FilmSceneDetect", "links": {"film": (1, 0)}},
        {"id": 3, "type": "FilmStabilize", "widgets": {"weave_only": True},
         "links": {"film": (1, 0), "scenes": (2, 0)}},
        {"id": 4, "type": "FilmSaveVideo", "widgets": {"filename_prefix": "FilmRestore/stabilized"},
         "links": {"film": (3, 0), "compare": (1, 0)}},
    ],
    "upscale_deblur.json": [
        {"id": 1, "type": "FilmLoadVideo", "widgets": {"video": "sample/old_film.mp4"}},
        {"id": 2, "type": "FilmDeblur", "widgets": {"method": "unsharp"}, "links": {"film": (1, 0)}},
        {"id": 3, "type": "FilmUpscale", "widgets": {"method": "lanczos", "target_height": 240},
         "links": {"film": (2, 0)}},
        {"id": 4, "type": "FilmSaveVideo", "widgets": {"filename_prefix": "FilmRestore/upscaled"},
         "links": {"film": (3, 0)}},
    ],
    # the 4K/60 remaster people make of 1896 films (The Arrival of a Train): a super-resolution model to 2160 lines,
    # then RIFE to 60 fps at half-scale flow (Practical-RIFE's advice for 4K); cut-aware; the audio is kept
    "arrival_4k60.json": [
        {"id": 1, "type": "FilmLoadVideo", "widgets": {"video": "sample/old_film.mp4"}},
        {"id": 2, "type": "FilmSceneDetect", "links": {"film": (1, 0)}},
        {"id": 3, "type": "FilmUpscale", "widgets": {"method": "model", "model_name": "realesr-general-x4v3.pth",
                                                     "target_height": 2160, "denoise_strength": 0.5},
         "links": {"film": (1, 0)}},
        {"id": 4, "type": "FilmInterpolate", "widgets": {"method": "rife", "fps": 60.0, "rife_model": "rife426.pth",
                                                         "rife_scale": 0.5},
         "links": {"film": (3, 0), "scenes": (2, 0)}},
        {"id": 5, "type": "FilmSaveVideo", "widgets": {"filename_prefix": "FilmRestore/arrival_4k60",
                                                       "format": "h265-mp4"},
         "links": {"film": (4, 0)}},
    ],
    # the seven-notebook pipeline of the 1896 Budapest restorations, in its order
    "budapest_1896.json": [
        {"id": 1, "type": "FilmLoadVideo", "widgets": {"video": "sample/old_film.mp4"}},
        {"id": 2, "type": "FilmStabilize", "widgets": {"method": "vidstab"}, "links": {"film": (1, 0)}},
        {"id": 3, "type": "FilmUpscale", "widgets": {"method": "model", "model_name": "realesr-general-x4v3.pth",
                                                     "factor": 2.0}, "links": {"film": (2, 0)}},
        {"id": 4, "type": "FilmDeOldify", "widgets": {"model": "ColorizeVideo_gen.pth", "render_factor": 12},
         "links": {"film": (3, 0)}},
        {"id": 5, "type": "FilmSceneDetect", "links": {"film": (4, 0)}},
        {"id": 7, "type": "FilmLoadPhotos", "title": "Reference photos (one per shot)",
         "widgets": {"photos": "sample/references/"}},
        {"id": 8, "type": "FilmReferenceColorize", "title": "Colour the keyframes from the photos",
         "widgets": {"method": "transfer"}, "links": {"references": (7, 0), "images": (5, 1)}},
        {"id": 9, "type": "FilmRemaster", "widgets": {"method": "deepremaster",
                                                      "deepremaster_model": "remasternet.pth.tar"},
         "links": {"film": (4, 0), "scenes": (5, 0), "references": (8, 1)}},
        {"id": 10, "type": "FilmDeblur", "links": {"film": (9, 0)}},
        {"id": 11, "type": "FilmInterpolate", "widgets": {"method": "rife", "fps": 60.0, "rife_model": "rife426.pth"},
         "links": {"film": (10, 0), "scenes": (5, 0)}},
        {"id": 12, "type": "FilmSaveVideo", "widgets": {"filename_prefix": "FilmRestore/budapest_1896"},
         "links": {"film": (11, 0), "compare": (1, 0)}},
    ],
    # shots, then each shot coloured from its own reference photo, then the colour steadied; the flicker metric
    # says how much steadier (its report and plot show in the node)
    "colour_from_reference.json": [
        {"id": 1, "type": "FilmLoadVideo", "widgets": {"video": "sample/old_film.mp4"}},
        {"id": 2, "type": "FilmSceneDetect", "links": {"film": (1, 0)}},
        {"id": 4, "type": "FilmLoadPhotos", "title": "Reference photos (one per shot)",
         "widgets": {"photos": "sample/references/"}},
        {"id": 5, "type": "FilmReferenceColorize", "links": {"references": (4, 0), "film": (1, 0), "scenes": (2, 0)}},
        {"id": 6, "type": "FilmChromaStabilize", "links": {"film": (5, 0), "scenes": (2, 0)}},
        {"id": 7, "type": "FilmColourFlicker", "links": {"film": (6, 0), "scenes": (2, 0), "before": (5, 0)}},
        {"id": 8, "type": "FilmSaveVideo", "widgets": {"filename_prefix": "FilmRestore/colour"},
         "links": {"film": (6, 0), "compare": (1, 0)}},
    ],
    # the best chain that needs no weights: what `make restore` runs, with the colour steadied as well
    "weightfree_restore.json": [
        {"id": 1, "type": "FilmLoadVideo", "widgets": {"video": "sample/old_film.mp4"}},
        {"id": 2, "type": "FilmSceneDetect", "links": {"film": (1, 0)}},
        {"id": 3, "type": "FilmStabilize", "links": {"film": (1, 0), "scenes": (2, 0)}},
        {"id": 4, "type": "FilmRemaster", "widgets": {"method": "classical"}, "links": {"film": (3, 0), "scenes": (2, 0)}},
        {"id": 6, "type": "FilmLoadPhotos", "title": "Reference photos (one per shot)",
         "widgets": {"photos": "sample/references/"}},
        {"id": 7, "type": "FilmReferenceColorize", "links": {"references": (6, 0), "film": (4, 0), "scenes": (2, 0)}},
        {"id": 8, "type": "FilmChromaStabilize", "links": {"film": (7, 0), "scenes": (2, 0)}},
        {"id": 9, "type": "FilmDeblur", "widgets": {"method": "richardson_lucy"}, "links": {"film": (8, 0)}},
        {"id": 10, "type": "FilmUpscale", "widgets": {"method": "lanczos", "factor": 2.0}, "links": {"film": (9, 0)}},
        {"id": 11, "type": "FilmInterpolate", "widgets": {"method": "flow", "fps": 24.0},
         "links": {"film": (10, 0), "scenes": (2, 0)}},
        {"id": 12, "type": "FilmSaveVideo", "widgets": {"filename_prefix": "FilmRestore/weightfree"},
         "links": {"film": (11, 0), "compare": (1, 0)}},
    ],
    # the same two stages in both orders, saved side by side, to see which order suits a film
    "stage_order.json": [
        {"id": 1, "type": "FilmLoadVideo", "widgets": {"video": "sample/old_film.mp4"}},
        {"id": 2, "type": "FilmSceneDetect", "links": {"film": (1, 0)}},
        {"id": 3, "type": "FilmRemaster", "title": "A1: remaster first", "links": {"film": (1, 0), "scenes": (2, 0)}},
        {"id": 4, "type": "FilmUpscale", "title": "A2: then upscale", "widgets": {"factor": 2.0},
         "links": {"film": (3, 0)}},
        {"id": 5, "type": "FilmSaveVideo", "title": "A: remaster -> upscale",
         "widgets": {"filename_prefix": "FilmRestore/order_remaster_first"}, "links": {"film": (4, 0)}},
        {"id": 6, "type": "FilmUpscale", "title": "B1: upscale first", "widgets": {"factor": 2.0},
         "links": {"film": (1, 0)}},
        {"id": 7, "type": "FilmRemaster", "title": "B2: then remaster", "links": {"film": (6, 0), "scenes": (2, 0)}},
        {"id": 8, "type": "FilmSaveVideo", "title": "B: upscale -> remaster",
         "widgets": {"filename_prefix": "FilmRestore/order_upscale_first"}, "links": {"film": (7, 0), "compare": (4, 0)}},
    ],
}


def main() -> None:
    for name, nodes in EXAMPLES.items():
        data = ui_workflow(nodes, NODE_CLASS_MAPPINGS)
        (HERE / name).write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
