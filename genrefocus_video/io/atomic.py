"""Atomic output: nothing ever appears half-written under a final name.

Every output (a clip, each image of a sequence, reports) is written to a temporary file in the
*same folder* (so the final ``os.replace`` is a rename on one filesystem, atomic on POSIX) and
renamed only when writing succeeded; on failure the temporary file is removed.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator, Optional

from ..errors import OutputError


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_output_path(final_path: str, *, overwrite: bool = False, inputs: tuple[str, ...] = ()) -> str:
    """Validate a destination before any work is done; return its absolute path.

    Refuses: an existing file unless ``overwrite``; any input file even with ``overwrite``;
    a folder that does not exist or is not writable.
    """
    final = os.path.abspath(final_path)
    from .paths import is_pattern
    from .sequence import in_sequence

    for src in inputs:
        if src and os.path.exists(final) and _same_file(final, src):
            raise OutputError(f"output {final_path} is the input file; refusing to overwrite an input")
        if src and is_pattern(src) and in_sequence(final, src):
            raise OutputError(f"output {final_path} is a frame of the input sequence {src}; refusing to "
                              "overwrite an input")
    if os.path.isdir(final):
        raise OutputError(f"output {final_path} is a folder; expected a file path")
    if os.path.exists(final) and not overwrite:
        raise OutputError(f"output {final_path} already exists; pass --overwrite to replace it")
    folder = os.path.dirname(final) or "."
    if not os.path.isdir(folder):
        raise OutputError(f"output folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {folder} is not writable")
    return final


def refuse_inputs_in_pattern(pattern: str, inputs: tuple[str, ...]) -> None:
    """OutputError if an output image-sequence `pattern` would write over any existing file of the
    `inputs` (single files or sequence patterns), at any frame number."""
    from .paths import is_pattern
    from .sequence import in_sequence, sequence_files

    for src in inputs:
        if not src:
            continue
        for f in (sequence_files(src) if is_pattern(src) else [src]):
            if os.path.exists(f) and in_sequence(f, pattern):
                raise OutputError(f"output {pattern} would write over {f}, a file of the input {src}; "
                                  "refusing to overwrite inputs")


def give_default_mode(path: str) -> None:
    """Give a temp file the permissions a plain ``open()`` would (0666 minus the umask).

    mkstemp creates files readable by their owner only; renamed onto the final name, a render farm's
    outputs would then be unreadable to the compositors and reviewers who share the folder.
    """
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def temp_path_for(final: str) -> str:
    """A fresh, unique temp path beside `final` that keeps its extension (writers pick format by it)."""
    folder, name = os.path.split(final)
    stem, ext = os.path.splitext(name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".partial{ext}", dir=folder or ".")
    except OSError as exc:
        raise OutputError(f"cannot create a temporary file in {folder or '.'}: {exc.strerror or exc}") from None
    os.close(fd)
    give_default_mode(tmp)
    return tmp


def commit(tmp: str, final: str) -> None:
    """Rename the finished temp file onto the final name (atomic on one filesystem)."""
    try:
        os.replace(tmp, final)
    except OSError as exc:
        discard(tmp)
        raise OutputError(f"cannot move finished output to {final}: {exc.strerror or exc}") from None


def discard(tmp: Optional[str]) -> None:
    if tmp:
        with contextlib.suppress(OSError):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_output(final_path: str, overwrite: bool = False, inputs: tuple[str, ...] = ()) -> Iterator[str]:
    """Yield a temp path in the final folder; on success rename it to `final_path`, else remove it.

    Raises OutputError (before yielding) if the destination exists and ``overwrite`` is false, is
    one of ``inputs``, or its folder is missing/unwritable.
    """
    final = check_output_path(final_path, overwrite=overwrite, inputs=inputs)
    tmp = temp_path_for(final)
    try:
        yield tmp
    except BaseException:
        discard(tmp)
        raise
    if not os.path.exists(tmp) or os.path.getsize(tmp) == 0:
        discard(tmp)
        raise OutputError(f"output {final_path} was not written (empty result)")
    if os.path.exists(final) and not overwrite:  # appeared while we worked
        discard(tmp)
        raise OutputError(f"output {final_path} appeared while writing; pass --overwrite to replace it")
    commit(tmp, final)
