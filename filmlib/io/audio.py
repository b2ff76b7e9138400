"""Carrying a clip's source audio into an output container, interleaved with the video as it is written.

Audio is copied packet by packet when the clip is the whole file and the container accepts the codec; it is
decoded, cut to the clip's exact time span and re-encoded otherwise.
"""
from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any, Iterator

import numpy as np

from ..clip import AudioSource

log = logging.getLogger(__name__)

COPYABLE = {
    "mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    "mov": {"aac", "mp3", "alac", "ac3", "pcm_s16le", "pcm_s24le", "pcm_s16be", "pcm_s24be"},
    "mkv": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac", "vorbis", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
    "webm": {"opus", "vorbis"},
}
ENCODER = {"mp4": "aac", "mov": "aac", "mkv": "flac", "webm": "libopus"}


class AudioPump:
    """Feeds audio packets into ``output`` up to a given clip time, so audio and video interleave."""

    def __init__(self, audio: AudioSource, output: Any, container_kind: str):
        import av
        self.audio = audio
        self.output = output
        self._in = av.open(audio.path)
        in_stream = self._in.streams[audio.stream_index]
        self.copy = (not audio.trimmed) and audio.codec in COPYABLE.get(container_kind, set())
        if self.copy:
            self.stream = output.add_stream_from_template(in_stream)
            self._shift = int(round(audio.start / in_stream.time_base))
            self._packets = self._copy_packets(in_stream)
        else:
            codec = ENCODER[container_kind]
            rate = in_stream.codec_context.sample_rate or 48000
            if codec == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
                rate = 48000
            layout = in_stream.codec_context.layout.name if in_stream.codec_context.layout else "stereo"
            self.stream = output.add_stream(codec, rate=rate, layout=layout)
            self._packets = self._transcode(in_stream, rate, layout)
        self._pending: Any = None
        self.done = False

    def _copy_packets(self, in_stream: Any) -> Iterator[tuple[Fraction, Any]]:
        for packet in self._in.demux(in_stream):
            if packet.size == 0 or packet.pts is None:
                continue
            packet.pts -= self._shift
            if packet.dts is not None:
                packet.dts -= self._shift
            packet.stream = self.stream
            yield Fraction(packet.pts) * in_stream.time_base, packet

    def _transcode(self, in_stream: Any, rate: int, layout: str) -> Iterator[tuple[Fraction, Any]]:
        import av
        start, end = self.audio.start, self.audio.start + self.audio.duration
        to_planar = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        enc = self.stream.codec_context
        to_encoder = av.AudioResampler(format=enc.format.name if enc.format else "fltp", layout=layout, rate=rate)
        fifo = av.AudioFifo()
        written = 0  # samples handed to the encoder
        frame_size = enc.frame_size or 1024

        def emit(frames: list[Any]) -> Iterator[tuple[Fraction, Any]]:
            for f in frames:
                for packet in self.stream.encode(f):
                    yield Fraction(packet.pts or 0, rate), packet

        def push(chunk: np.ndarray) -> Iterator[tuple[Fraction, Any]]:
            nonlocal written
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk, np.float32), format="fltp", layout=layout)
            frame.sample_rate = rate
            for f in to_encoder.resample(frame):
                f.pts = None
                fifo.write(f)
            while fifo.samples >= frame_size:
                out = fifo.read(frame_size)
                out.pts = written
                written += out.samples
                yield from emit([out])

        for frame in self._in.decode(in_stream):
            for f in to_planar.resample(frame):
                if f.pts is None:
                    continue
                t0 = Fraction(f.pts) * f.time_base
                data = f.to_ndarray()
                a = max(0, int(round((start - t0) * rate)))
                b = min(data.shape[1], int(round((end - t0) * rate)))
                if b > a:
                    yield from push(data[:, a:b])
                if t0 >= end:
                    break
        leftover = fifo.read()
        if leftover is not None and leftover.samples:
            leftover.pts = written
            yield from emit([leftover])
        yield from emit([None])

    def until(self, t: Fraction | None) -> None:
        """Mux every audio packet that starts before clip time ``t`` seconds (``None``: all that remain)."""
        if self.done:
            return
        while True:
            if self._pending is None:
                try:
                    self._pending = next(self._packets)
                except StopIteration:
                    self.done = True
                    self._in.close()
                    return
            ts, packet = self._pending
            if t is not None and ts >= t:
                return
            self.output.mux(packet)
            self._pending = None

    def close(self) -> None:
        if not self.done:
            self._in.close()
            self.done = True
