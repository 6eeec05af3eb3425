"""Reading and writing frames: video (PyAV), image sequences, depth files."""
from .frame import ClipInfo, Frame

__all__ = ["ClipInfo", "Frame"]
