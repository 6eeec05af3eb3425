"""Focus tracks a(t): constant, keyframes, a picked point or a followed subject, resolved per frame.

Arrays and plain values in and out (no frame records, no pipeline): ``point`` (the point pick and
the centre focus), ``modes`` (the job's focus mode, its checks, closed-form a(t)), ``follow``
(follow focus forward and back), ``resolve`` (one frame's focus, sharp band and track row),
``keyframes`` (parsing), ``tracking`` (tracker, robust region depth, follower), ``export``.
"""
