"""Small helpers shared by the I/O tests."""
from __future__ import annotations

import hashlib

import av
import numpy as np

TONE_HZ = 440.0


def audio_digest(path: str) -> list[str]:
    """SHA-256 of every audio stream's packet bytes, in stream order: equal lists mean the audio
    was carried bit for bit (stream copy)."""
    with av.open(path) as c:
        digests = {s.index: hashlib.sha256() for s in c.streams.audio}
        for pkt in c.demux(*c.streams.audio):
            if pkt.size:
                digests[pkt.stream.index].update(bytes(pkt))
    return [d.hexdigest() for _, d in sorted(digests.items())]


def clip_with_tone(video_src: str, path: str, n: int, codec: str = "flac", rate: int = 48000) -> str:
    """`video_src`'s video stream plus a mono 440 Hz tone of n/24 s (`codec`: flac, pcm_s16le, ...)."""
    with av.open(video_src) as vin, av.open(path, "w") as out:
        vs = out.add_stream_from_template(vin.streams.video[0])
        a = out.add_stream(codec, rate=rate)
        a.layout = "mono"
        for pkt in vin.demux(vin.streams.video[0]):
            if pkt.size:
                pkt.stream = vs
                out.mux(pkt)
        t = np.arange(int(rate * n / 24)) / rate
        pcm = (np.sin(2 * np.pi * TONE_HZ * t) * 8000).astype(np.int16)
        for i in range(0, len(pcm), 1024):
            fr = av.AudioFrame.from_ndarray(pcm[None, i:i + 1024], format="s16", layout="mono")
            fr.sample_rate = rate
            fr.pts = i
            for p in a.encode(fr):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    return path


def decoded_audio(path: str, stream: int = 0) -> tuple[np.ndarray, int]:
    """One audio stream decoded to mono float samples (full scale 1, channels averaged) and its rate."""
    parts = []
    with av.open(path) as c:
        s = c.streams.audio[stream]
        rate = s.codec_context.sample_rate
        for f in c.decode(s):
            raw = f.to_ndarray()
            x = raw.astype(np.float32)
            if np.issubdtype(raw.dtype, np.integer):  # full scale = 1, like the float formats
                x /= float(np.iinfo(raw.dtype).max) + 1.0
            ch = f.layout.nb_channels
            x = x if f.format.is_planar else x.reshape(-1, ch).T  # packed: interleaved samples
            parts.append(x.mean(axis=0))
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), rate
