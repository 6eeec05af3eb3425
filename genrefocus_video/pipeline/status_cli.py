"""`genrefocus-video status OUTPUT|WORK_DIR [--json]`: where a chunked job stands (CLI face)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from .status import describe_state, job_state


def _cmd_status(args: argparse.Namespace) -> int:
    state = job_state(args.path)
    print(json.dumps(state.to_dict(), indent=1) if args.json else describe_state(state))
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("status", help="where a chunked job stands: chunks done, running, to do",
                              description="Read a chunked job's work folder (Ray or farm tasks) and print each "
                                          "chunk's state (done, with its time and host; running, with the task "
                                          "holding it; to do) and what to run next. Read-only.")
    p.add_argument("path", metavar="OUTPUT", help="the job's output (its OUTPUT.work folder is read), or a --work-dir")
    p.add_argument("--json", action="store_true", help="machine-readable JSON instead of text")
    p.set_defaults(func=_cmd_status)
