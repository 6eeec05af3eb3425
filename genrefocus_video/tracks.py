"""Time-varying parameters as tracks: constant, or keyframed with easing, evaluated per frame.

A track maps a frame index (float allowed) to a value. Keyframed tracks interpolate between
sorted keys with one of four easings:

* ``linear``  — straight line between keys;
* ``ease``    — smoothstep 3u^2 - 2u^3 (ease in and out): zero velocity at every key, monotone
  between keys, so it passes exactly through the keys and never overshoots;
* ``hold``    — step: the previous key's value until the next key's frame;
* ``follow``  — a critically damped second-order follower chasing the held keys, like a focus
  puller's hand: it starts moving at a key's frame and settles on the key's value without
  overshoot. Step response s(tau) = 1 - (1 + tau/T) exp(-tau/T) (T = time constant): 63% at
  ~2.1 T, 90% at ~3.9 T, 99% at ~6.6 T. Because the system is linear and starts at rest on the
  first key, x(t) = v0 + sum_i (v_i - v_{i-1}) s(t - t_i): evaluated in closed form at any frame,
  so chunked renders match sequential ones exactly.

:class:`CriticallyDamped` is the same follower as a stateful filter, for derived tracks (a
subject's measured disparity) that are only known frame by frame; its exact discretisation
(piecewise-constant input between frames) makes it frame-rate independent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

EASINGS = ("linear", "ease", "hold", "follow")


def ease_unit(u: float, kind: str) -> float:
    """Easing curve on u in [0, 1] -> [0, 1] (monotone, fixed end points)."""
    u = min(1.0, max(0.0, u))
    if kind == "linear":
        return u
    if kind == "ease":
        return u * u * (3.0 - 2.0 * u)
    if kind == "hold":
        return 1.0 if u >= 1.0 else 0.0
    raise ValueError(f"unknown easing {kind!r} (expected one of {', '.join(EASINGS)})")


def step_response(tau: float, time_constant: float) -> float:
    """Critically damped unit step response at time tau >= 0 after the step (0 before)."""
    if tau <= 0:
        return 0.0
    if time_constant <= 0:
        return 1.0
    x = tau / time_constant
    return 1.0 - (1.0 + x) * math.exp(-x)


@dataclass(frozen=True)
class Key:
    """One keyframe: frame index (float allowed) and value."""

    frame: float
    value: float


class ConstantTrack:
    """The same value at every frame."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def __call__(self, frame: float) -> float:
        return self.value


class KeyframeTrack:
    """Keys sorted by frame, eased between; held before the first and after the last key."""

    def __init__(self, keys: Sequence[Key], ease: str = "ease", fps: float = 24.0, follow_time: float = 0.25) -> None:
        if not keys:
            raise ValueError("a keyframe track needs at least one key")
        if ease not in EASINGS:
            raise ValueError(f"unknown easing {ease!r} (expected one of {', '.join(EASINGS)})")
        for i in range(1, len(keys)):
            if not keys[i].frame > keys[i - 1].frame:
                raise ValueError(f"keys must be strictly increasing in time: key {i} (frame {keys[i].frame:g}) "
                                 f"is not after key {i - 1} (frame {keys[i - 1].frame:g})")
        self.keys = list(keys)
        self.ease = ease
        self.fps = float(fps)
        self.follow_time = float(follow_time)

    def __call__(self, frame: float) -> float:
        keys = self.keys
        if self.ease == "follow":
            tc = self.follow_time * self.fps  # time constant in frames
            x = keys[0].value
            for prev, k in zip(keys, keys[1:]):
                x += (k.value - prev.value) * step_response(frame - k.frame, tc)
            return x
        if frame <= keys[0].frame:
            return keys[0].value
        if frame >= keys[-1].frame:
            return keys[-1].value
        for k0, k1 in zip(keys, keys[1:]):
            if k0.frame <= frame < k1.frame:
                u = (frame - k0.frame) / (k1.frame - k0.frame)
                return k0.value + (k1.value - k0.value) * ease_unit(u, self.ease)
        return keys[-1].value  # unreachable: the loop covers [first, last)


class CriticallyDamped:
    """Stateful critically damped follower x'' = w^2 (target - x) - 2 w x', w = 1 / T.

    Exact zero-order-hold discretisation over one frame step h: with e = x - target and
    state (e, v), the solution of the critically damped ODE is
    e(h) = (e0 + (v0 + w e0) h) exp(-w h), v(h) = (v0 - w (v0 + w e0) h) exp(-w h).
    """

    def __init__(self, time_constant_s: float, fps: float) -> None:
        self.T = float(time_constant_s)
        self.h = 1.0 / float(fps)
        self.x: float | None = None
        self.v = 0.0

    def reset(self) -> None:
        self.x, self.v = None, 0.0

    def __call__(self, target: float) -> float:
        if self.x is None or self.T <= 0:
            self.x, self.v = float(target), 0.0
            return self.x
        w, h = 1.0 / self.T, self.h
        e0, v0 = self.x - target, self.v
        c = v0 + w * e0
        decay = math.exp(-w * h)
        e = (e0 + c * h) * decay
        self.v = (v0 - w * c * h) * decay
        self.x = target + e
        return self.x

    def settle_frames(self, tolerance: float = 1e-3) -> int:
        """Frames after which the memory of any initial state is below `tolerance` (relative)."""
        if self.T <= 0:
            return 0
        n = 0
        while True:
            x = n * self.h / self.T
            if (1.0 + x) * math.exp(-x) < tolerance:
                return n
            n += 1
