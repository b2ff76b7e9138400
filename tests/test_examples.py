"""Every example workflow runs headless, as a user runs it, on the sample clip: learned nodes load stand-in
weights in the official file layouts (a test of the wiring, not of quality). Each run is cut to a few frames
and, where a workflow targets 4K, to a smaller height, with the runner's own ``--set`` overrides."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from filmrestore.cli import main as cli_main
from standin_models import shared_tools, write_standins

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "example_workflows"

# workflow -> (stand-in models it loads, frames of the clip to run, --set overrides)
PLANS: dict[str, tuple[tuple[str, ...], int, tuple[str, ...]]] = {
    "restore_sample.json": ((), 10, ()),
    "silent_film_to_60fps.json": ((), 10, ()),
    "shots_and_stabilize.json": ((), 10, ()),
    "upscale_deblur.json": ((), 10, ()),
    "stage_order.json": ((), 10, ()),
    "colour_from_reference.json": ((), 10, ()),
    "weightfree_restore.json": ((), 10, ()),
    "budapest_1896.json": (("realesr-general-x4v3", "deoldify-video", "deepremaster", "rife-4.26"), 4,
                           ("9.work_size=128",)),
    # a 4x model costs seconds a frame on a CPU: this one runs on a 160x120 copy of the clip, to 240 lines
    "arrival_4k60.json": (("realesr-general-x4v3", "realesr-general-wdn-x4v3", "rife-4.26"), 4,
                          ("3.target_height=240",)),
}
SMALL = {"arrival_4k60.json", "budapest_1896.json"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """The sample (old film, references) written once for the module."""
    folder = tmp_path_factory.mktemp("sample")
    assert cli_main(["sample", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


def _small_copy(src: Path, dst: Path, count: int) -> None:
    from conftest import write_video
    from realclips import read_frames
    write_video(dst, read_frames(src, 0, count, size=(160, 120)))


def _loader_ids(data: dict) -> list[str]:
    return [str(n["id"]) for n in data["nodes"] if n["type"] == "FilmLoadVideo"]


@pytest.mark.parametrize("name", sorted(PLANS))
def test_example_workflow_runs_headless(name, sample, models, tmp_path, monkeypatch):
    needs, count, overrides = PLANS[name]
    if needs and shared_tools() is None and any(not n.startswith("realesr") for n in needs):
        pytest.skip("stand-in weights need ../shared/tools/fidelity_weights.py (the project's shared folder)")
    write_standins(models, needs)
    monkeypatch.setenv("FILMRESTORE_MODELS", str(models))
    inp = Path(tmp_path / "input")
    (inp / "sample").mkdir(parents=True, exist_ok=True)
    for p in sample.iterdir():
        target = inp / "sample" / p.name
        if name in SMALL and p.name == "old_film.mp4":
            _small_copy(p, target, count)
        elif not target.exists():
            target.symlink_to(p, target_is_directory=p.is_dir())
    data = json.loads((EXAMPLES / name).read_text())
    sets = []
    for nid in _loader_ids(data):
        node = next(n for n in data["nodes"] if str(n["id"]) == nid)
        if not str(node["widgets_values"][0]).endswith("/"):  # a clip, not a folder of reference photos
            sets += ["--set", f"{nid}.frame_count={count}"]
    for o in overrides:
        sets += ["--set", o]
    assert cli_main(["run", str(EXAMPLES / name), *sets]) == 0
    saved = sorted((tmp_path / "output").rglob("*.mp4"))
    assert saved, f"{name} wrote no video"
    import av
    for path in saved:
        with av.open(str(path)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert len(frames) >= count and float(np.std(frames[-1])) > 1.0, f"{path.name}: empty or flat output"


def test_every_example_has_a_thumbnail_and_a_headless_plan():
    """The template browser shows NAME.jpg beside NAME.json; every template is run above."""
    from PIL import Image
    names = sorted(p.name for p in EXAMPLES.glob("*.json"))
    assert names == sorted(PLANS), "add the new example to PLANS"
    for name in names:
        with Image.open(EXAMPLES / name.replace(".json", ".jpg")) as img:
            assert img.format == "JPEG" and img.size[0] >= 256
