"""The classical bokeh renderer: layered, occlusion-aware, any aperture, linear HDR (docs/renderer.md)."""
