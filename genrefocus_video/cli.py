"""The command-line face: `genrefocus-video render|probe|submit|status|ofx-serve ...`.

`render` flags are generated from the parameter schema (one flag per leaf parameter), so a new
parameter appears here, in YAML configs, in OFX and in Ray job specs without being typed again.
Other subcommands register themselves through :data:`SUBCOMMANDS`: each entry names a module with
`register(subparsers)` that adds a parser whose `func(args) -> int` runs it.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence

from .errors import (EXIT_INTERRUPTED, STOP_SIGNALS, ConfigError, GenRefocusError, Terminated, clear_stop_requests,
                     request_stop)
from .params import JobParams, iter_leaves, load_job

PROG = "genrefocus-video"

#: Modules that add a subcommand with `register(subparsers)`. Faces only; the core never imports these.
SUBCOMMANDS: list[str] = [
    "genrefocus_video.io.probe_cli",
    "genrefocus_video.ofx.ofx_cli",
    "genrefocus_video.pipeline.submit_cli",
    "genrefocus_video.pipeline.status_cli",
]

log = logging.getLogger("genrefocus_video")


def add_schema_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per schema leaf. Defaults are suppressed so only flags actually given override."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    seen: dict[str, str] = {}
    for leaf in iter_leaves(JobParams):
        section = leaf.path.split(".")[0]
        group = groups.setdefault(section, parser.add_argument_group(f"{section} options"))
        flag = leaf.flag
        if flag in seen:
            raise RuntimeError(f"schema flag --{flag} used by both {seen[flag]} and {leaf.path}")
        seen[flag] = leaf.path
        kwargs: dict[str, Any] = {"dest": leaf.path, "default": argparse.SUPPRESS}
        default = leaf.default
        help_text = leaf.spec.help + (f" (default: {default})" if default not in (None, "") else "")
        help_text = help_text.replace("%", "%%")  # argparse formats help strings with %
        if leaf.base_type is bool:
            group.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, help=help_text, **kwargs)
            continue
        if leaf.spec.choices:
            kwargs["metavar"] = "{" + ",".join(leaf.spec.choices) + "}"
        else:
            kwargs["metavar"] = leaf.path.split(".")[-1].upper()
        # Values stay strings here; the schema coerces and validates them with key-naming errors.
        group.add_argument(f"--{flag}", help=help_text, **kwargs)


def job_from_args(args: argparse.Namespace) -> JobParams:
    """Defaults < --config file < flags (positional INPUT and -o included)."""
    overrides = {k: v for k, v in vars(args).items() if "." in k}
    if getattr(args, "input_pos", None):
        overrides["input.path"] = args.input_pos
    return load_job(getattr(args, "config", None), overrides)


def _cmd_render(args: argparse.Namespace) -> int:
    job = job_from_args(args)
    if args.print_config:
        sys.stdout.write(job.to_yaml())
        return 0
    if args.print_tasks:
        return _print_tasks(job, args.argv)
    from .pipeline.run import run_job  # lazy: keeps `--help` and `--print-config` fast

    summary = run_job(job)
    print(summary.line())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Change focus after capture, on video.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    render = sub.add_parser("render", help="refocus a clip, sequence or image",
                            description="Refocus INPUT and write OUTPUT. Flags override --config values.")
    render.add_argument("input_pos", nargs="?", metavar="INPUT", help="input clip/sequence/image")
    render.add_argument("-o", dest="output.path", default=argparse.SUPPRESS, metavar="OUTPUT",
                        help="output clip or sequence pattern")
    render.add_argument("--config", metavar="FILE", help="YAML job file (see configs/)")
    render.add_argument("--print-config", action="store_true", help="print the resolved job as YAML and exit")
    render.add_argument("--print-tasks", action="store_true",
                        help="print this render as farm tasks (JSON: one --chunk task per chunk of --chunks, then "
                             "a --join task that waits for them; run them in this folder) and exit")
    add_schema_flags(render)
    render.set_defaults(func=_cmd_render)

    for module in SUBCOMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def _print_tasks(job: JobParams, argv: Sequence[str]) -> int:
    """This very command line, once per chunk with --chunk N and once with --join (see farm.chunk_tasks)."""
    import json

    from .pipeline.farm import chunk_tasks
    from .pipeline.run import planned_chunks

    if job.executor.chunk is not None or job.executor.join:
        raise ConfigError("--print-tasks lists the tasks of a whole job: drop --chunk / --join")
    command = [PROG] + [a for a in argv if a != "--print-tasks"]
    name = os.path.basename(job.output.path) or "job"
    tasks = chunk_tasks(name, planned_chunks(job), command, job.output.path, cwd=os.getcwd())
    print(json.dumps(tasks, indent=1))
    return 0


@contextmanager
def stop_signals_unwind() -> Iterator[list[KeyboardInterrupt]]:
    """While inside, Ctrl-C (SIGINT) raises KeyboardInterrupt and SIGTERM / SIGHUP raise
    :class:`Terminated` in the main thread (instead of killing the process on the spot, which would
    leave hidden ``.partial`` files and no message), and each stop is also recorded for the frame
    loop (errors.raise_if_stop_requested), so a raise that Python drops still stops the job.

    The first SIGTERM / SIGHUP restores the default action, so a second one (a farm's grace period
    running out) still kills at once; a second Ctrl-C gets the handler that was there before. A
    signal set to be ignored (``nohup``, a background job of a script) stays ignored. The previous
    handlers come back on exit (the CLI may run in-process). Yields a list that receives the stops
    raised: a library in between (Ray's ``wait``) may turn one into a plain KeyboardInterrupt."""
    received: list[KeyboardInterrupt] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous: dict[int, Callable[..., Any] | int | None] = {}

    def handler(signum: int, frame: Any) -> None:
        if signum == signal.SIGINT:
            old = previous[signum]
            signal.signal(signum, old if old is not None else signal.default_int_handler)
            stop: KeyboardInterrupt = KeyboardInterrupt()
        else:
            signal.signal(signum, signal.SIG_DFL)
            stop = Terminated(signum, signal.Signals(signum).name)
        received.append(stop)
        request_stop(stop)
        raise stop

    clear_stop_requests()
    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) != signal.SIG_IGN:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        clear_stop_requests()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as given: --print-tasks repeats it
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    received: list[KeyboardInterrupt] = []
    try:
        with stop_signals_unwind() as received:
            return int(args.func(args) or 0)
    except GenRefocusError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        first = received[0] if received else exc  # the signal's own stop: Ray may have replaced it
        stop = first if isinstance(first, Terminated) else None
        what = f"terminated ({stop.name})" if stop is not None else "interrupted"
        print(f"{PROG}: {what}; no partial file is left (finished frames and chunks are kept in the "
              "work folder: rerun the same command to resume)", file=sys.stderr)
        return stop.exit_code if stop is not None else EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (`genrefocus-video probe clip.mov | head`): not an error of ours; point
        # stdout at devnull so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
