"""Files in a directory a container could write.

A task's work directory is bind-mounted into its build container, whose root
(possibly hostile, running someone's spec file) can create anything there:
symbolic links to host files, FIFOs that block a reader forever, device nodes,
hard links to host files, files of any size, names with newlines in them.  The
daemon is root on the host, so a naive `open()` of "result/build.log" could
read /etc/shadow into a hub upload, hang the event loop on a FIFO, or append a
state note to a host file.

`UntrustedDir` holds a directory file descriptor and does everything relative
to it: every path component is opened with O_NOFOLLOW (a directory with
O_DIRECTORY too), a file is opened O_NONBLOCK (a FIFO's open returns at once)
and verified with fstat before a byte is read (a regular file, one hard link,
not larger than the caller's limit).  Every read is bounded, so nothing blocks
forever; callers run these functions in an executor.  A refused file raises
`UntrustedFileError`, whose one-line message names the file by its relative
name and says why.

`remove_tree` deletes such a directory without following its links.
"""

from __future__ import annotations

import fcntl
import fnmatch
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from adjutant.errors import AdjutantError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_APPEND_FLAGS = (os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                 | os.O_CLOEXEC)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
_CHUNK = 1024 * 1024

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISREG, "a regular file"),
)

Data = Union[bytes, str]


class UntrustedFileError(AdjutantError):
    """A file in an untrusted directory was refused; `name` is its relative name."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name} {reason}")
        self.name = name
        self.reason = reason


class MissingFileError(UntrustedFileError):
    """The file (or one of its directories) does not exist."""


@dataclass
class Listing:
    """A directory's entries: regular files, subdirectories, and refused entries
    (entry name -> a one-line message naming it and why)."""

    files: list[str] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def display(name: str) -> str:
    """A name fit for a one-line message: quoted and escaped unless printable."""
    return name if name and name.isprintable() else repr(name)


def kind(mode: int) -> str:
    """What kind of file a st_mode says, as "a FIFO"."""
    for test, what in _KINDS:
        if test(mode):
            return what
    return "an unknown kind of file"


def split_name(relname: str) -> list[str]:
    """The components of a relative name; refuses absolute names, '..', '.' and
    empty components.  "." alone is the directory itself (no components)."""
    if relname == ".":
        return []
    shown = display(relname)
    if not relname:
        raise UntrustedFileError(shown, "is an empty name; refused")
    if "\0" in relname:
        raise UntrustedFileError(shown, "has a NUL character; refused")
    if relname.startswith("/"):
        raise UntrustedFileError(shown, "is an absolute name; refused")
    parts = relname.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            what = repr(part) if part else "an empty"
            raise UntrustedFileError(shown, f"has {what} component; refused")
    return parts


def refusal(st: os.stat_result, max_size: Optional[int]) -> Optional[str]:
    """Why a file with this stat may not be read or written, or None."""
    if not stat.S_ISREG(st.st_mode):
        return f"is {kind(st.st_mode)}; refused"
    if st.st_nlink != 1:
        return f"has {st.st_nlink} hard links; refused"
    if max_size is not None and st.st_size > max_size:
        return f"is larger than {max_size} bytes; refused"
    return None


def _lstat(dir_fd: Optional[int], name: str) -> os.stat_result:
    return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)


def _check(st: os.stat_result, shown: str, max_size: Optional[int]) -> None:
    reason = refusal(st, max_size)
    if reason is not None:
        raise UntrustedFileError(shown, reason)


def _open_error(dir_fd: Optional[int], name: str, shown: str, error: OSError,
                inside: Optional[str] = None) -> UntrustedFileError:
    """The refusal for a failed open of `name`, saying what the entry is."""
    if isinstance(error, FileNotFoundError):
        return MissingFileError(shown, "does not exist")
    try:
        what = f"is {kind(_lstat(dir_fd, name).st_mode)}"
    except OSError:
        what = f"could not be opened ({error.strerror})"
    if inside is not None:
        return UntrustedFileError(shown, f"is inside {inside}, which {what}; refused")
    return UntrustedFileError(shown, f"{what}; refused")


def _clear_nonblock(fd: int) -> None:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)


def _read_upto(fd: int, limit: int, offset: int = 0) -> bytes:
    """At most `limit` bytes of fd from `offset`, up to EOF."""
    chunks = []
    total = 0
    while total < limit:
        chunk = os.pread(fd, min(limit - total, _CHUNK), offset + total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _as_bytes(data: Data) -> bytes:
    return data.encode() if isinstance(data, str) else data


class UntrustedDir:
    """A directory a container could write, opened without following links.

    Names given to its methods are relative ("result/build.log"); messages name
    files relative to the directory this one was opened on (a `subdir` keeps
    its prefix)."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        self.prefix = ""
        try:
            self._fd: Optional[int] = os.open(self.path, _DIR_FLAGS)
        except OSError as error:
            raise _open_error(None, str(self.path), display(str(self.path)), error) from None

    @classmethod
    def _from_fd(cls, fd: int, path: Path, prefix: str) -> UntrustedDir:
        self = cls.__new__(cls)
        self.path, self.prefix, self._fd = path, prefix, fd
        return self

    def __repr__(self) -> str:
        return f"UntrustedDir({str(self.path)!r}, fd={self._fd})"

    def __enter__(self) -> UntrustedDir:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # --- names and directories

    def _join(self, relname: str) -> str:
        if relname == ".":
            return self.prefix or "."
        return f"{self.prefix}/{relname}" if self.prefix else relname

    def shown(self, relname: str) -> str:
        """The name messages use: relative to the first directory, escaped."""
        return display(self._join(relname))

    def _walk(self, parts: list[str], relname: str) -> int:
        """A new fd of the directory `parts` names, each component opened
        O_NOFOLLOW|O_DIRECTORY relative to the one before."""
        fd = os.open(".", _DIR_FLAGS, dir_fd=self.fd)
        try:
            for depth, part in enumerate(parts):
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as error:
                    inside = self.shown("/".join(parts[:depth + 1]))
                    shown = self.shown(relname)
                    if inside == shown:
                        raise _open_error(fd, part, shown, error) from None
                    raise _open_error(fd, part, shown, error, inside) from None
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _open_parent(self, relname: str) -> tuple[int, str, str]:
        """(fd of the file's directory, the file's own name, its shown name)."""
        parts = split_name(relname)
        if not parts:
            raise UntrustedFileError(self.shown(relname), "is not a file name; refused")
        return self._walk(parts[:-1], relname), parts[-1], self.shown(relname)

    def open_dir(self, relname: str) -> int:
        """A new fd of a subdirectory (the caller closes it)."""
        return self._walk(split_name(relname), relname)

    def subdir(self, relname: str) -> UntrustedDir:
        """The subdirectory `relname` as an UntrustedDir of its own."""
        fd = self.open_dir(relname)
        joined = self._join(relname)
        return UntrustedDir._from_fd(fd, self.path / relname, "" if joined == "." else joined)

    def exists(self, relname: str) -> bool:
        """Whether `relname` exists as anything (a dangling link too), without
        following links; a linked or non-directory parent is refused."""
        try:
            parent, leaf, _ = self._open_parent(relname)
        except MissingFileError:
            return False
        try:
            _lstat(parent, leaf)
        except FileNotFoundError:
            return False
        finally:
            os.close(parent)
        return True

    # --- reading

    def _open_leaf(self, parent: int, leaf: str, shown: str, flags: int,
                   max_size: Optional[int]) -> int:
        try:
            # Refuse early what is no regular file, so that a device's open()
            # never runs; the fstat below is the check that counts.
            _check(_lstat(parent, leaf), shown, max_size)
            fd = os.open(leaf, flags, dir_fd=parent)
        except OSError as error:
            raise _open_error(parent, leaf, shown, error) from None
        try:
            _check(os.fstat(fd), shown, max_size)
            _clear_nonblock(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def open_regular(self, relname: str, max_size: Optional[int] = None) -> int:
        """A read-only fd of the regular file `relname` (the caller closes it):
        no link followed, one hard link, at most `max_size` bytes."""
        parent, leaf, shown = self._open_parent(relname)
        try:
            return self._open_leaf(parent, leaf, shown, _READ_FLAGS, max_size)
        finally:
            os.close(parent)

    def read_bytes(self, relname: str, *, max_size: int) -> bytes:
        fd = self.open_regular(relname, max_size)
        try:
            data = _read_upto(fd, max_size + 1)
        finally:
            os.close(fd)
        if len(data) > max_size:  # it grew after the fstat
            raise UntrustedFileError(self.shown(relname),
                                     f"is larger than {max_size} bytes; refused")
        return data

    def read_text(self, relname: str, *, max_size: int, errors: str = "replace",
                  encoding: str = "utf-8") -> str:
        return self.read_bytes(relname, max_size=max_size).decode(encoding, errors)

    def read_from(self, relname: str, offset: int, size: int, *,
                  missing_ok: bool = False) -> bytes:
        """At most `size` bytes from `offset` (a log uploaded as it grows);
        b"" for a missing file if `missing_ok`."""
        if offset < 0 or size < 0:
            raise ValueError(f"offset {offset} and size {size} must not be negative")
        try:
            fd = self.open_regular(relname)
        except MissingFileError:
            if missing_ok:
                return b""
            raise
        try:
            return _read_upto(fd, size, offset)
        finally:
            os.close(fd)

    def copy_out(self, relname: str, destination: Path, *, max_size: int) -> int:
        """Copy the regular file `relname` to a new file `destination` (mode 0o644)
        in a directory the container cannot write; returns the size copied."""
        source = self.open_regular(relname, max_size)
        try:
            return self._copy(source, relname, destination, max_size)
        finally:
            os.close(source)

    def _copy(self, source: int, relname: str, destination: Path, max_size: int) -> int:
        try:
            target = os.open(destination, _CREATE_FLAGS, 0o644)
        except FileExistsError:
            raise UntrustedFileError(self.shown(relname),
                                     f"cannot be copied: {destination} exists; refused") from None
        try:
            os.fchmod(target, 0o644)
            size = self._copy_data(source, target, relname, max_size)
        except BaseException:
            os.close(target)
            os.unlink(destination)
            raise
        os.close(target)
        return size

    def _copy_data(self, source: int, target: int, relname: str, max_size: int) -> int:
        size = 0
        while True:
            chunk = os.read(source, min(_CHUNK, max_size + 1 - size))
            if not chunk:
                return size
            size += len(chunk)
            if size > max_size:  # it grew after the fstat
                raise UntrustedFileError(self.shown(relname),
                                         f"is larger than {max_size} bytes; refused")
            _write_all(target, chunk)

    def list_regular(self, relname_of_dir: str = ".", pattern: Optional[str] = None) -> Listing:
        """The entries of a directory (matching the glob `pattern`), sorted:
        regular files with one link, subdirectories, and the refused rest
        (links, FIFOs, devices, hard links, unprintable names)."""
        listing = Listing()
        with self.subdir(relname_of_dir) as directory:
            for name in sorted(os.listdir(directory.fd)):
                if pattern is None or fnmatch.fnmatchcase(name, pattern):
                    directory._sort_entry(name, listing)
        return listing

    def _sort_entry(self, name: str, listing: Listing) -> None:
        try:
            st = _lstat(self.fd, name)
        except FileNotFoundError:
            return  # removed while listing
        reason = refusal(st, None)
        if not name.isprintable():
            listing.refused[name] = f"{self.shown(name)} has an unprintable name; refused"
        elif stat.S_ISDIR(st.st_mode):
            listing.directories.append(name)
        elif reason is not None:
            listing.refused[name] = f"{self.shown(name)} {reason}"
        else:
            listing.files.append(name)

    # --- writing (state notes, what the daemon makes for the build user)

    def _create(self, parent: int, leaf: str, shown: str, data: bytes, mode: int, *,
                owner: Optional[tuple[int, int]] = None) -> None:
        try:
            fd = os.open(leaf, _CREATE_FLAGS, mode, dir_fd=parent)
        except FileExistsError:
            try:
                what = f" as {kind(_lstat(parent, leaf).st_mode)}"
            except OSError:
                what = ""
            raise UntrustedFileError(shown, f"already exists{what}; refused") from None
        try:
            os.fchmod(fd, mode)
            if owner is not None:
                os.fchown(fd, *owner)
            _write_all(fd, data)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(leaf, dir_fd=parent)
            raise
        os.close(fd)

    def write_new(self, relname: str, data: Data, mode: int = 0o644,
                  owner: Optional[tuple[int, int]] = None) -> None:
        """Create `relname` (given to `owner`, uid and gid); refused if the name
        exists as anything."""
        parent, leaf, shown = self._open_parent(relname)
        try:
            self._create(parent, leaf, shown, _as_bytes(data), mode, owner=owner)
        finally:
            os.close(parent)

    def append(self, relname: str, data: Data) -> None:
        """Append to the existing regular file `relname` (one link, no link followed)."""
        parent, leaf, shown = self._open_parent(relname)
        try:
            fd = self._open_leaf(parent, leaf, shown, _APPEND_FLAGS, None)
        finally:
            os.close(parent)
        try:
            _write_all(fd, _as_bytes(data))
        finally:
            os.close(fd)

    def note(self, relname: str, data: Data, owner: Optional[tuple[int, int]] = None) -> None:
        """Append to `relname`, making it (for `owner`) if it is not there
        (never through a link)."""
        try:
            self.append(relname, data)
        except MissingFileError:
            self.write_new(relname, data, owner=owner)

    def make_dir(self, relname: str, mode: int = 0o755,
                 owner: Optional[tuple[int, int]] = None) -> None:
        """Make the directory `relname` if it is not there (for `owner`); a
        name that is there as anything but a directory is refused."""
        parent, leaf, shown = self._open_parent(relname)
        try:
            try:
                os.mkdir(leaf, mode, dir_fd=parent)
            except FileExistsError:
                if not stat.S_ISDIR(_lstat(parent, leaf).st_mode):
                    raise UntrustedFileError(shown, "is not a directory; refused") from None
                return
            if owner is not None:
                os.chown(leaf, *owner, dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(parent)

    def give_to(self, owner: tuple[int, int]) -> None:
        """Give the directory itself (not what is in it) to `owner`."""
        os.fchown(self.fd, *owner)


def remove_tree(path: Path, *, missing_ok: bool = False) -> None:
    """Delete a directory a container wrote, never following a link in it
    (`path` itself must not be a link)."""
    if missing_ok and not os.path.lexists(path):
        return
    if shutil.rmtree.avoids_symlink_attacks:
        shutil.rmtree(path)
        return
    fd = os.open(path, _DIR_FLAGS)
    try:
        _empty_directory(fd)
    finally:
        os.close(fd)
    os.rmdir(path)


def _empty_directory(fd: int) -> None:
    """Remove everything in the directory `fd`, relative to fds, links unfollowed."""
    for name in os.listdir(fd):
        if stat.S_ISDIR(_lstat(fd, name).st_mode):
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            try:
                _empty_directory(child)
            finally:
                os.close(child)
            os.rmdir(name, dir_fd=fd)
        else:
            os.unlink(name, dir_fd=fd)
