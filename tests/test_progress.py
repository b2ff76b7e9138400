"""Progress that says something: a stage built by one node reports, while a later consumer pulls it, as that
node's progress (frames done, fps, time left); inside ComfyUI (stand-in modules recording every call) the
messages name the right node, are rate limited, carry previews at most every 2 s, and Cancel still stops the
pull. Time is a fake clock that the stages advance as they compute, so the rates have a known answer."""
from __future__ import annotations

import sys
import types
from fractions import Fraction

import numpy as np
import pytest

from filmrestore import comfy_bridge as bridge
from filmrestore.filmlib import progress
from filmrestore.filmlib.clip import ArrayFilm, FrameStage
from filmrestore.filmlib.progress import Meter, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Busy(FrameStage):
    """Adds one to every pixel and spends ``seconds_per_frame`` of the fake clock on each frame."""

    name = "busy"
    cache_policy = "none"
    chunk_frames = 8

    def __init__(self, source, clock: Clock, seconds_per_frame: float, tag: str):
        super().__init__(source, {"tag": tag})
        self.clock, self.spf = clock, seconds_per_frame
        self.label = tag

    def process_frame(self, frame: np.ndarray, index: int) -> np.ndarray:
        self.clock.t += self.spf
        return frame + 1


@pytest.fixture(autouse=True)
def nothing_installed():
    yield
    progress.install(None, None)
    bridge.set_headless_context(None)


def clip(n: int = 80) -> ArrayFilm:
    return ArrayFilm(np.zeros((n, 8, 8, 3), np.uint8), Fraction(24))


def test_meter_rate_and_time_left_on_a_known_schedule() -> None:
    clock = Clock()
    m = Meter(100, clock, window=10.0)
    assert m.fps is None and m.eta is None
    for _ in range(5):  # 10 frames a second
        clock.t += 1.0
        m.add(10)
    assert m.fps == pytest.approx(10.0) and m.eta == pytest.approx(5.0)
    for _ in range(20):  # then 2 a second for 20 s: the 10 s window forgets the fast start
        clock.t += 1.0
        m.add(2)
    assert m.fps == pytest.approx(2.0) and m.eta == pytest.approx((100 - 90) / 2.0)
    m.add(50)
    assert m.done == 100 and m.eta == 0.0


def test_rate_limiter_passes_once_per_interval_per_key_and_always_when_forced() -> None:
    clock = Clock()
    lim = RateLimiter(0.5, clock)
    passed = []
    for i in range(100):  # 10 s at 0.1 s steps
        passed.append((lim.ready("a"), lim.ready("b"), lim.ready("a", force=i == 99)))
        clock.t += 0.1
    a = sum(p[0] for p in passed)
    assert a == 20 and sum(p[1] for p in passed) == 20  # every 0.5 s, each key on its own
    assert passed[99][2] and not passed[98][2]


def test_stages_report_as_the_node_that_built_them_with_fps_and_eta() -> None:
    clock, events, owners = Clock(), [], iter([("p1", "3"), ("p1", "4")])
    progress.install(lambda: next(owners), events.append, clock)
    a = Busy(clip(), clock, 0.1, "denoise")
    b = Busy(a, clock, 0.1, "sharpen")
    progress.install(lambda: None, events.append, clock)  # the consumer's own frames are nobody's stage
    assert a.progress_owner == ("p1", "3") and b.progress_owner == ("p1", "4")
    for _ in b.chunks():
        pass
    by = {node: [e for e in events if e.owner[1] == node] for node in ("3", "4")}
    assert [e.done for e in by["3"]] == list(range(8, 81, 8)) and by["3"][-1].finished
    assert [e.done for e in by["4"]] == list(range(8, 81, 8)) and {e.stage for e in by["4"]} == {"sharpen"}
    # each chunk of 8 costs 0.8 s in each stage: both run at 8 / 1.6 = 5 fps, and the rest takes done/5 s
    mid = by["4"][4]
    assert mid.fps == pytest.approx(5.0) and mid.eta == pytest.approx((80 - 40) / 5.0)
    assert by["4"][-1].eta == 0.0 and by["4"][-1].frame.shape == (8, 8, 3)
    n = len(events)
    for _ in b.chunks():  # pulled again (not cached here): frames are not counted twice
        pass
    assert max(e.done for e in events[n:]) == 80


def test_nothing_is_reported_headless() -> None:
    a = Busy(clip(16), Clock(), 0.0, "denoise")
    assert a.progress_owner is None
    assert len(a.read(0, 16)) == 16


# ---- inside ComfyUI: stand-in modules that record what would reach the page ----

class Interrupted(Exception):
    pass


PREVIEW_WITH_METADATA = 4  # ComfyUI protocol.BinaryEventTypes


@pytest.fixture
def comfy(monkeypatch: pytest.MonkeyPatch):
    """comfy.utils.ProgressBar whose hook sends 'progress' as ComfyUI's main.py does (and would mark its node
    running in ComfyUI's progress state), a PromptServer that records send_sync, model_management's
    interrupt flag, and a page that reads previews with metadata."""
    sent: list[tuple[object, object, object]] = []
    bars: list[tuple] = []
    state = types.SimpleNamespace(interrupted=False)

    class PromptServer:
        instance = types.SimpleNamespace(client_id="tab1", last_prompt_id="p1", last_node_id=None,
                                         sockets_metadata={}, send_sync=lambda ev, data, sid=None: sent.append(
                                             (ev, data, sid)))

    class ProgressBar:
        def __init__(self, total, node_id=None):
            self.total, self.node_id = total, node_id

        def update_absolute(self, value, total=None, preview=None):
            bars.append((self.node_id, value, total, preview))
            PromptServer.instance.send_sync("progress", {"value": value, "max": total, "prompt_id": "p1",
                                                         "node": self.node_id}, "tab1")

    def throw():
        if state.interrupted:
            raise Interrupted("Processing interrupted")

    names = ("comfy", "comfy.utils", "comfy.model_management", "server", "protocol", "comfy_api",
             "comfy_api.feature_flags")
    mods = {k: types.ModuleType(k) for k in names}
    mods["comfy.utils"].ProgressBar = ProgressBar
    mods["comfy.model_management"].throw_exception_if_processing_interrupted = throw
    mods["server"].PromptServer = PromptServer
    mods["protocol"].BinaryEventTypes = types.SimpleNamespace(PREVIEW_IMAGE_WITH_METADATA=PREVIEW_WITH_METADATA)
    mods["comfy_api.feature_flags"].supports_feature = lambda meta, sid, name: name == "supports_preview_metadata"
    for k, v in mods.items():
        monkeypatch.setitem(sys.modules, k, v)
    return types.SimpleNamespace(sent=sent, bars=bars, state=state)


def build_in_comfy(clock: Clock, spf: float) -> Busy:
    """Node 3 and node 4 build their stages while ComfyUI executes them; node 9 (a saver) pulls them."""
    assert bridge.install_stage_progress(clock)
    bridge.set_headless_context(("p1", "3"))
    a = Busy(clip(), clock, spf, "denoise")
    bridge.set_headless_context(("p1", "4"))
    b = Busy(a, clock, spf, "sharpen")
    bridge.set_headless_context(("p1", "9"))
    return b


def test_comfy_progress_is_per_node_rate_limited_with_fps_and_eta(comfy) -> None:
    clock = Clock()
    b = build_in_comfy(clock, 0.01)  # 0.16 s per chunk through both stages, 10 chunks: 1.6 s in all
    for _ in b.chunks():
        pass
    ours = [d for ev, d, sid in comfy.sent if ev == bridge.PROGRESS_MESSAGE]
    core = [d for ev, d, sid in comfy.sent if ev == "progress"]
    assert all(sid == "tab1" for _, _, sid in comfy.sent)
    for node, stage in (("3", "denoise"), ("4", "sharpen")):
        mine = [d for d in ours if d["node"] == node]
        assert {d["stage"] for d in mine} == {stage} and mine[-1]["value"] == mine[-1]["max"] == 80
        # 1.6 s of work, at most one message per 0.5 s per node plus the last: 4 or 5, not 10
        assert 3 <= len(mine) <= 5, mine
        timed = [d for d in mine if d["fps"] is not None]
        assert timed and all(d["fps"] == pytest.approx(8 / 0.16) for d in timed)  # 50 fps
        assert all(d["eta"] == pytest.approx((80 - d["value"]) / 50, abs=0.05) for d in timed)
    assert {d["prompt_id"] for d in ours} == {"p1"}
    # nodes that already ran get no ComfyUI progress (its ProgressBar would mark them running again, and the
    # page shows a bare "progress" as the running node's percentage): our message only, and previews
    assert comfy.bars == [] and core == []
    previews = [d for ev, d, _ in comfy.sent if ev == PREVIEW_WITH_METADATA]
    assert len(previews) == 1  # 1.6 s of work < 2 s
    (kind, image, size), meta = previews[0]
    assert kind == "JPEG" and image.size == (8, 8) and meta["node_id"] == meta["display_node_id"] == "3"


def test_comfy_previews_come_at_most_every_two_seconds(comfy) -> None:
    clock = Clock()
    b = build_in_comfy(clock, 0.1)  # 1.6 s per chunk, 16 s in all
    for _ in b.chunks():
        pass
    progress_msgs = [d for ev, d, _ in comfy.sent if ev == bridge.PROGRESS_MESSAGE]
    previews = [d for ev, d, _ in comfy.sent if ev == PREVIEW_WITH_METADATA]
    assert len(progress_msgs) == 20  # 0.8 s between one node's chunks > 0.5 s: every chunk of both nodes
    assert 4 <= len(previews) <= 9, len(previews)  # about 16 s / 2 s, not one per message


def test_a_stage_the_running_node_built_for_itself_is_left_to_its_own_reporter(comfy) -> None:
    clock = Clock()
    assert bridge.install_stage_progress(clock)
    bridge.set_headless_context(("p1", "9"))
    own = Busy(clip(16), clock, 0.1, "comparison")  # built by the saver itself, pulled while it runs
    own.read(0, 8)
    assert comfy.sent == [] and comfy.bars == []  # its progress_reporter says how far the saver is
    comfy.state.interrupted = True
    with pytest.raises(Interrupted):  # but Cancel still stops it between chunks
        own.read(8, 16)


def test_cancel_stops_the_pull_between_chunks(comfy) -> None:
    clock = Clock()
    b = build_in_comfy(clock, 0.0)
    pulled = 0
    with pytest.raises(Interrupted):
        for _ in b.chunks():
            pulled += 1
            comfy.state.interrupted = True
    assert pulled == 1


def test_progress_reporter_sends_fps_and_eta_for_the_running_node(comfy) -> None:
    clock = Clock()
    bridge.set_headless_context(("p1", "9"))
    report = bridge.progress_reporter(100, "saving", clock)
    frame = np.zeros((4, 4, 1), np.uint16)
    for done in range(10, 101, 10):
        clock.t += 0.2  # 50 fps
        report(done, 100, frame)
    ours = [d for ev, d, _ in comfy.sent if ev == bridge.PROGRESS_MESSAGE]
    assert {d["node"] for d in ours} == {"9"} and {d["stage"] for d in ours} == {"saving"}
    assert [d["value"] for d in ours] == [10, 40, 70, 100]  # 0.2 s steps: the first, then 0.5 s on, and the last
    assert ours[1]["fps"] == pytest.approx(50.0) and ours[1]["eta"] == pytest.approx(60 / 50)
    assert [(n, v) for n, v, _, _ in comfy.bars] == [("9", 10), ("9", 40), ("9", 70), ("9", 100)]
    assert sum(b[3] is not None for b in comfy.bars) == 1  # 1.8 s from the first send to the last: one preview
    comfy.state.interrupted = True
    with pytest.raises(Interrupted):
        report(100, 100, None)
