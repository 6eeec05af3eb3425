"""Small helpers shared by the I/O tests."""
from __future__ import annotations

import hashlib

import av


def audio_digest(path: str) -> list[str]:
    """SHA-256 of every audio stream's packet bytes, in stream order: equal lists mean the audio
    was carried bit for bit (stream copy)."""
    with av.open(path) as c:
        digests = {s.index: hashlib.sha256() for s in c.streams.audio}
        for pkt in c.demux(*c.streams.audio):
            if pkt.size:
                digests[pkt.stream.index].update(bytes(pkt))
    return [d.hexdigest() for _, d in sorted(digests.items())]
