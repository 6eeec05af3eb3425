"""Focus tracks a(t): constant, keyframes, a picked point or a followed subject, resolved per frame."""
