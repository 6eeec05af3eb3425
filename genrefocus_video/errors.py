"""Error types with meaningful exit codes.

Every user-facing failure is one of these: the message is a single line that names the file,
frame, key or parameter at fault and what was expected. The CLI maps the class to an exit code
so that farm wranglers and scripts can tell a bad config from a bad clip from a full disk.
"""
from __future__ import annotations


class GenRefocusError(Exception):
    """Base class: a clean, one-line, user-facing error."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        # One line, always: multi-line messages break farm log parsers.
        super().__init__(" ".join(str(message).split()))


class ConfigError(GenRefocusError, ValueError):
    """A parameter, config key or command-line flag is invalid (exit 2, like argparse)."""

    exit_code = 2


class InputError(GenRefocusError, ValueError):
    """An input file (clip, depth, aperture image, job file) is missing, unreadable or inconsistent."""

    exit_code = 3


class OutputError(GenRefocusError, OSError):
    """The output cannot be written (unwritable path, full disk, would overwrite the input)."""

    exit_code = 4


class BackendUnavailableError(GenRefocusError, RuntimeError):
    """A requested backend cannot run here (no GPU, no local weights, cluster unreachable)."""

    exit_code = 5


class JobError(GenRefocusError, RuntimeError):
    """A render job failed after retries (a chunk kept failing, a worker kept dying)."""

    exit_code = 6


#: Exit code for a job interrupted by the user (SIGINT), as shells expect.
EXIT_INTERRUPTED = 130


#: Signals that stop a render: Ctrl-C and those that stop it the same way (see Terminated). The CLI
#: handles them (cli.stop_signals_unwind), and the Ray runtime keeps its handlers when ray.init
#: replaces them.
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

#: the stops a signal asked for during the running job, first first (request_stop); emptied by the
#: face that records them when its job is over (clear_stop_requests)
_stops_requested: list[KeyboardInterrupt] = []


def request_stop(stop: KeyboardInterrupt) -> None:
    """Record that a signal asked the job to stop (the face's signal handler, before it raises `stop`)."""
    _stops_requested.append(stop)


def clear_stop_requests() -> None:
    """Forget the recorded stops (the face that records them, when its job is over)."""
    _stops_requested.clear()


def raise_if_stop_requested() -> None:
    """Raise the first recorded stop again, if any: called by the frame loop between frames.

    A signal handler raises its exception in whatever Python code the main thread runs at that
    moment, and Python drops an exception raised inside a finaliser (a generator or object the
    garbage collector closes right then: "Exception ignored in ..."). The render then went on to
    the end and exited 0 after Ctrl-C; with this check it stops at the next frame."""
    if _stops_requested:
        raise _stops_requested[0]


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal other than Ctrl-C: SIGTERM (a farm manager
    cancelling or pre-empting the task, `timeout`, `docker stop`) or SIGHUP (the terminal closed).

    Raised from the CLI's signal handler so the render unwinds exactly as after Ctrl-C: temp files
    are removed, finished chunks are kept for a resume. A KeyboardInterrupt so that every cleanup
    path that already handles Ctrl-C handles it too.
    """

    def __init__(self, signum: int, name: str) -> None:
        super().__init__(name)
        self.signum, self.name = signum, name

    @property
    def exit_code(self) -> int:
        """128 + the signal number, what a shell reports for a process the signal killed."""
        return 128 + self.signum
