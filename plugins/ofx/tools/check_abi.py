"""Compare the constants of our ofx_abi.h against the official OpenFX headers.

Why: our plugin and test host use a hand-written subset of the OpenFX ABI (the official headers
are not vendored); a misspelt property string is silently ignored by real hosts. This script reads
every ``#define kOfx... <string or integer>`` in our header and checks that the official include
directory defines the same macro with the same value. CI cannot fetch the official headers, so
maintainers run it by hand:

    python plugins/ofx/tools/check_abi.py /path/to/openfx/include

Exit 0 when every constant matches, 1 when any is missing or differs (one line each).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

DEFINE = re.compile(
    r'^\s*#\s*define\s+(kOfx\w+)\s+("(?:[^"\\]|\\.)*"|-?\d+|\(\s*\(\s*int\s*\)\s*-?\d+\s*\))\s*(?:/[/*].*)?$'
)
INT_CAST = re.compile(r"\(\s*\(\s*int\s*\)\s*(-?\d+)\s*\)")
OURS = Path(__file__).resolve().parents[1] / "src" / "ofx_abi.h"


def read_constants(paths: list[Path]) -> dict[str, str]:
    """Map macro name -> literal value (string literal with quotes, or integer text)."""
    found: dict[str, str] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = DEFINE.match(line)
            if match:
                value = INT_CAST.sub(r"\1", match.group(2))
                found.setdefault(match.group(1), value)
    return found


def compare(ours: dict[str, str], official: dict[str, str]) -> list[str]:
    """One line per constant of ours that the standard lacks or spells differently."""
    problems = []
    for name, value in sorted(ours.items()):
        if name not in official:
            problems.append(f"{name}: not defined in the official headers")
        elif official[name] != value:
            problems.append(f"{name}: ours {value}, official {official[name]}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not Path(argv[1]).is_dir():
        print("usage: check_abi.py OPENFX_INCLUDE_DIR", file=sys.stderr)
        return 2
    ours = read_constants([OURS])
    official = read_constants(sorted(Path(argv[1]).glob("*.h")))
    problems = compare(ours, official)
    for line in problems:
        print(line)
    print(f"{len(ours)} constants checked, {len(problems)} mismatches")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
