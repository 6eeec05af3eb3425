"""Reading and writing frames: video (PyAV), image sequences, depth files.

Entry points: :func:`reader.open_reader`, :func:`writer.open_writer`, :func:`probe.probe`,
:func:`depthio.open_depth`, :func:`concat.concat_segments`, :func:`atomic.atomic_output`
(imported from their modules so that ``import genrefocus_video.io`` stays light).
"""
from .frame import ClipInfo, Frame

__all__ = ["ClipInfo", "Frame"]
