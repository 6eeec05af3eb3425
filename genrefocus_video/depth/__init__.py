"""Per-frame disparity: external files, estimates from camera motion, defocus or Marigold, and flow-guided temporal smoothing."""
