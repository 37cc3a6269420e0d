"""What a command writes, checked against what it reads, and replaced all together or not at all.

Every command declares the files it reads and the outputs it writes (files, and at most one
folder it replaces whole, such as a model bundle). `replaced_together` checks all of it before
anything is written: no output is an input (by resolved path and by inode, so symlinks and hard
links count), no output is a folder or a device, a folder to replace holds nothing but what the
command owns in it, and every output's temporary file can be created beside it. The command then
writes each output to its temporary file; only when all are complete are they moved into place,
with Ctrl-C and SIGTERM held back for those few renames. A failure or an interruption before
that leaves every existing output as it was and no temporary file behind.

Symlinked outputs are written through: the file or folder the link points to is replaced, the
link stays.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aura_sentinel.errors import UsageError

# Temporary names keep at most this many characters of the output's name, so that an output
# whose name is near the file system's limit (255 bytes) still has a valid temporary name.
_NAME_PART = 64
_NAME_LIMIT = 255


@dataclass(frozen=True)
class FolderOutput:
    """A folder the command replaces whole; `owns(name)` tells the entries it may replace."""

    path: Path
    owns: Callable[[str], bool]
    what: str = "model bundle"


@dataclass
class Staged:
    """The temporary places the command writes to, by output."""

    files: dict[Path, Path] = field(default_factory=dict)
    folder: Path | None = None

    def __getitem__(self, output: Path) -> Path:
        return self.files[output]


def real_path(path: Path) -> Path:
    """The path with every symlink resolved (as far as it exists)."""
    return Path(os.path.realpath(path))


def check_outputs(
    reads: Iterable[Path], files: Iterable[Path] = (), folder: FolderOutput | None = None
) -> None:
    """Refuse, with one line, any output that would destroy an input or cannot be written."""
    outputs = list(files)
    for output in outputs:
        _check_file_output(output)
    inputs = [path for path in reads if _exists(path)]
    for output in outputs:
        for read in inputs:
            if _same_file(read, output):
                raise UsageError(
                    str(output),
                    f"is also an input of this command ({read})",
                    "write the output to another file",
                )
    for index, output in enumerate(outputs):
        for other in outputs[index + 1 :]:
            if real_path(output) == real_path(other):
                raise UsageError(str(output), "is written twice", "give distinct output names")
    if folder is not None:
        _check_folder_output(folder, inputs)


@contextlib.contextmanager
def replaced_together(
    reads: Iterable[Path], files: Iterable[Path] = (), folder: FolderOutput | None = None
) -> Iterator[Staged]:
    """Check the outputs, yield their temporary places, then move them all into place."""
    reads, files = list(reads), list(files)
    check_outputs(reads, files, folder)
    staged = Staged()
    try:
        for output in files:
            staged.files[output] = _temporary_file(output)
        if folder is not None:
            staged.folder = _staging_folder(folder.path)
        yield staged
        check_outputs(reads, files, folder)  # nothing changed under us while we worked
        with _signals_held():
            for output, temporary in staged.files.items():
                os.replace(temporary, real_path(output))
            if folder is not None and staged.folder is not None:
                _swap_folder(staged.folder, real_path(folder.path))
    except OSError as error:
        named = _output_named(error, staged, files, folder)
        if named is None:  # about an input, say: not ours to word
            raise
        raise unwritable(named, error) from error
    finally:
        for temporary in staged.files.values():
            temporary.unlink(missing_ok=True)
        if staged.folder is not None:
            shutil.rmtree(staged.folder, ignore_errors=True)


def unwritable(path: Path, error: OSError) -> UsageError:
    """A write that failed for the system's reasons: permissions, a full disk, a bad path."""
    reason = error.strerror or (str(error).strip().splitlines() or [type(error).__name__])[0]
    return UsageError(
        str(path),
        f"cannot be written ({reason})",
        "check that you may write to its folder and that the disk has space; nothing was changed",
    )


def _output_named(
    error: OSError, staged: Staged, files: list[Path], folder: FolderOutput | None
) -> Path | None:
    """The output an OSError is about, as the user named it (not its temporary name); None
    when it names another file."""
    if not error.filename:  # a write through an open handle: a full disk, say
        return files[0] if files else (folder.path if folder is not None else None)
    failed = real_path(Path(error.filename))
    for output, temporary in staged.files.items():
        if failed in (temporary, real_path(output)):
            return output
    staging = staged.folder
    if folder is None or staging is None:
        return None
    ours = failed in (real_path(folder.path), staging) or staging in failed.parents
    return folder.path if ours else None


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long, say: no such input
        return False


def _same_file(read: Path, output: Path) -> bool:
    if real_path(read) == real_path(output):
        return True
    try:
        read_stat, output_stat = read.stat(), output.stat()
    except OSError:
        return False
    return (read_stat.st_dev, read_stat.st_ino) == (output_stat.st_dev, output_stat.st_ino)


def _check_file_output(output: Path) -> None:
    if len(os.fsencode(output.name)) > _NAME_LIMIT:
        raise UsageError(
            str(output), f"its name is longer than {_NAME_LIMIT} bytes", "give a shorter name"
        )
    target = real_path(output)
    if target.is_dir():
        raise UsageError(str(output), "is a folder", "give a file name for the output")
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):
        raise UsageError(str(output), "is not a regular file", "give the name of a file")
    if not target.parent.is_dir():
        raise UsageError(str(output), "its folder does not exist", "create the folder first")


def _check_folder_output(folder: FolderOutput, inputs: list[Path]) -> None:
    target = real_path(folder.path)
    if target.exists() and not target.is_dir():
        raise UsageError(str(folder.path), "is a file, not a folder", "choose a folder")
    if target.is_dir():
        foreign = sorted(entry.name for entry in target.iterdir() if not folder.owns(entry.name))
        if foreign:
            raise UsageError(
                str(folder.path),
                f"holds other files than a {folder.what} (e.g. '{foreign[0]}'), so it is not "
                "replaced",
                f"choose a new or empty folder, or one that holds only a {folder.what}",
            )
    for read in inputs:
        resolved = real_path(read)
        if resolved == target or target in resolved.parents or resolved in target.parents:
            raise UsageError(
                str(folder.path),
                f"the output folder would replace an input of this command ({read})",
                "write the output to another folder",
            )
    # The new folder is made beside the old one: refuse now, not after the work, a place where
    # no folder can be made (under a file, on a read-only disk).
    existing = next(parent for parent in target.parents if parent.exists())
    if not existing.is_dir():
        raise UsageError(
            str(folder.path), f"cannot be made: '{existing}' is a file", "choose another folder"
        )
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".aura-sentinel-", dir=existing))
    except OSError as error:
        raise unwritable(folder.path, error) from error


def _short_name(name: str) -> str:
    return name[:_NAME_PART]


def _temporary_file(output: Path) -> Path:
    target = real_path(output)
    temporary = target.parent / f".{_short_name(target.name)}.{uuid.uuid4().hex}.tmp"
    try:
        temporary.open("xb").close()  # the folder takes a new file: known before any work
    except OSError as error:
        raise unwritable(output, error) from error
    return temporary


def _staging_folder(path: Path) -> Path:
    target = real_path(path)
    staging = target.parent / f".{_short_name(target.name)}.{uuid.uuid4().hex}.new"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    except OSError as error:
        raise unwritable(path, error) from error
    return staging


def _swap_folder(staging: Path, target: Path) -> None:
    retired = staging.with_suffix(".old")
    if target.exists():
        os.replace(target, retired)
    try:
        os.replace(staging, target)
    except OSError:
        if retired.exists() and not target.exists():
            os.replace(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


_HELD = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold back Ctrl-C and SIGTERM for the renames; they arrive once all outputs are in place."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
