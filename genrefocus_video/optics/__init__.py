"""Optics: aperture shapes and their bokeh kernels, and the thin-lens camera (K from f-number)."""
from .aperture import SHAPE_NAMES, Aperture, make_aperture
from .lens import camera_from_metadata, focus_disparity_from_distance, k_from_camera

__all__ = ["Aperture", "SHAPE_NAMES", "make_aperture", "k_from_camera", "focus_disparity_from_distance",
           "camera_from_metadata"]
