"""Assemble the Lambda deployment package: the standalone Racket application, stdiobridge and its wheels, one zip.

Run by ``make bundle``. The zip root is what Lambda unpacks into /var/task:

    application          launcher script (the command in stdiobridge.toml)
    app/bin/application  the `raco exe` binary, made standalone by `raco distribute`
    app/lib/plt/...      the Racket CS runtime it starts
    app/lib/sys/...      the non-glibc shared libraries that runtime needs (liblz4, libz)
    stdiobridge.toml     the bridge's configuration (STDIOBRIDGE_CONFIG=stdiobridge.toml)
    stdiobridge/ orjson/ msgpack/ ...   the wheels, unpacked (Lambda puts /var/task on sys.path)

Lambda's python3.12 image is Amazon Linux 2023 with glibc 2.34, older than the
build machine's. Every ELF file in app/ is checked against ``--max-glibc``;
Debian's Racket 8.7 needs glibc 2.35 for one symbol only, ``hypot`` (new math
in 2.35; the 2.2.5 version is still exported by every glibc), so that one
requirement is rewritten to ``hypot@GLIBC_2.2.5`` and anything else over the
limit fails the build with the symbol named.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

# Symbols whose newest glibc version may be swapped for the old one every glibc keeps.
OLD_VERSIONS = {"hypot": "GLIBC_2.2.5"}
SYSTEM_LIBS = re.compile(r"^(linux-vdso|ld-linux|libc\.|libm\.|libpthread\.|libdl\.|librt\.|libutil\.)")
LAUNCHER = """#!/bin/sh
# Start the Racket application with the shared libraries shipped beside it
# (the Lambda image has no Racket). stdiobridge runs this once per environment.
here=$(cd "$(dirname "$0")" && pwd)
LD_LIBRARY_PATH="$here/app/lib/sys${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/app/bin/application" "$@"
"""
_SHT_DYNSYM = 11
_SHT_VERNEED = 0x6FFFFFFE
_SHT_VERSYM = 0x6FFFFFFF
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def elf_hash(name: bytes) -> int:
    """The System V ELF hash, as stored in a version-need entry (vna_hash)."""
    h = 0
    for byte in name:
        h = ((h << 4) + byte) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


def _version_tuple(name: str) -> tuple[int, ...]:
    """(2, 35) for "GLIBC_2.35"."""
    return tuple(int(part) for part in name.split("_", 1)[1].split("."))


class Elf:
    """Just enough of a little-endian ELF64 file to read and rewrite its version needs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = bytearray(path.read_bytes())
        if self.data[:4] != b"\x7fELF" or self.data[4] != 2 or self.data[5] != 1:
            raise ValueError(f"{path}: not a little-endian ELF64 file")
        (shoff,) = struct.unpack_from("<Q", self.data, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", self.data, 0x3A)
        self.sections = [struct.unpack_from("<IIQQQQIIQQ", self.data, shoff + i * shentsize) for i in range(shnum)]

    def _section(self, kind: int) -> tuple[int, ...] | None:
        return next((s for s in self.sections if s[1] == kind), None)

    def _string(self, table: tuple[int, ...], offset: int) -> bytes:
        start = table[4] + offset
        return bytes(self.data[start : self.data.index(b"\0", start)])

    def needs(self) -> list[tuple[str, str, int, int]]:
        """(library, version name, version index, file offset of the aux entry) for every version needed."""
        verneed = self._section(_SHT_VERNEED)
        if verneed is None:
            return []
        strtab = self.sections[verneed[6]]
        out = []
        offset = verneed[4]
        while True:
            _ver, count, file_off, aux, next_off = struct.unpack_from("<HHIII", self.data, offset)
            library = self._string(strtab, file_off).decode()
            aux_at = offset + aux
            for _ in range(count):
                _hash, _flags, index, name_off, aux_next = struct.unpack_from("<IHHII", self.data, aux_at)
                out.append((library, self._string(strtab, name_off).decode(), index, aux_at))
                aux_at += aux_next
            if not next_off:
                return out
            offset += next_off

    def symbols_with_version(self, index: int) -> list[str]:
        """Names of the dynamic symbols bound to version ``index``."""
        dynsym, versym = self._section(_SHT_DYNSYM), self._section(_SHT_VERSYM)
        if dynsym is None or versym is None:
            return []
        strtab = self.sections[dynsym[6]]
        names = []
        for i in range(dynsym[5] // 24):
            (ver,) = struct.unpack_from("<H", self.data, versym[4] + 2 * i)
            if ver & 0x7FFF == index:
                (name_off,) = struct.unpack_from("<I", self.data, dynsym[4] + 24 * i)
                names.append(self._string(strtab, name_off).decode())
        return names

    def retarget(self, aux_at: int, version: str) -> bool:
        """Point a version-need entry at ``version`` (whose name must already be in the string table)."""
        verneed = self._section(_SHT_VERNEED)
        assert verneed is not None
        strtab = self.sections[verneed[6]]
        table = bytes(self.data[strtab[4] : strtab[4] + strtab[5]])
        found = table.find(b"\0" + version.encode() + b"\0")
        if found < 0:
            return False
        struct.pack_into("<I", self.data, aux_at, elf_hash(version.encode()))
        struct.pack_into("<I", self.data, aux_at + 8, found + 1)
        return True


def fit_glibc(path: Path, limit: tuple[int, ...]) -> list[str]:
    """Make ``path`` need no glibc newer than ``limit`` where that is safe; returns what was changed."""
    elf = Elf(path)
    changed = []
    for library, version, index, aux_at in elf.needs():
        if not version.startswith("GLIBC_") or _version_tuple(version) <= limit:
            continue
        symbols = elf.symbols_with_version(index)
        olds = {OLD_VERSIONS.get(s) for s in symbols}
        if not symbols or None in olds or len(olds) != 1:
            raise SystemExit(
                f"{path} needs {version} (from {library}) for {', '.join(symbols) or 'unknown symbols'}, newer than "
                f"the Lambda image's glibc {'.'.join(map(str, limit))}: build the application on an older system "
                "(e.g. Amazon Linux 2023)"
            )
        old = olds.pop()
        assert old is not None
        if not elf.retarget(aux_at, old):
            raise SystemExit(f"{path}: cannot retarget {version} to {old} (name not in its string table)")
        changed.append(f"{', '.join(symbols)}@{version} -> @{old}")
    if changed:
        mode = path.stat().st_mode
        path.write_bytes(bytes(elf.data))
        path.chmod(mode)
    return changed


def max_glibc(path: Path) -> tuple[int, ...]:
    """The newest GLIBC_x.y version ``path`` needs ((0,) if none)."""
    versions = [_version_tuple(v) for _, v, _, _ in Elf(path).needs() if v.startswith("GLIBC_")]
    return max(versions, default=(0,))


def is_elf(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == b"\x7fELF"


def shared_libraries(binary: Path) -> list[Path]:
    """The non-glibc shared libraries ``binary`` loads on this machine (from ldd)."""
    done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True)
    found = []
    for line in done.stdout.splitlines():
        match = re.match(r"\s*(\S+) => (/\S+)", line)
        if match and not SYSTEM_LIBS.match(match.group(1)):
            found.append(Path(match.group(2)))
    return found


def unpack_wheel(wheel: Path, root: Path) -> None:
    """Unpack a wheel into ``root`` as `pip install --target` would (purelib/platlib data folded in)."""
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename
            match = re.match(r"^[^/]+\.data/(purelib|platlib)/(.*)$", name)
            if match:
                name = match.group(2)
            elif re.match(r"^[^/]+\.data/", name):
                continue  # scripts and headers have no place in a Lambda package
            target = root / name
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)


def find_python(version: str) -> str | None:
    """A working interpreter of CPython ``version`` ("3.12"): this one if it matches, else one found and tried."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    candidates = [shutil.which(f"python{version}")]
    candidates += [str(p) for p in sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))]
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        try:  # a pyenv shim exists for versions that are not selected: it must really run
            done = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


def precompile(root: Path, version: str) -> int:
    """Compile the package root's Python files to ``__pycache__/*.cpython-3XX.pyc`` for the runtime's Python.

    Lambda's task root is read-only: without shipped bytecode every cold start
    compiles stdiobridge and its dependencies again. The .pyc files are
    unchecked-hash ones, valid whatever times the unzipped sources get.
    Returns how many were written (0, with a warning, when no Python ``version`` is here).
    """
    python = find_python(version)
    if python is None:
        print(
            f"warning: no python{version} here to precompile the bundle's bytecode; "
            "each cold start will compile it (install it, or set PYTHON_VERSION to the runtime you deploy to)",
            file=sys.stderr,
        )
        return 0
    folders = [str(p) for p in sorted(root.iterdir()) if p.is_dir() and p.name != "app"]
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", *folders],
        check=True,
    )
    return sum(1 for _ in root.rglob("*.pyc"))


def write_zip(root: Path, out: Path) -> int:
    """Zip ``root`` with its files' permission bits (Lambda restores them), sorted, with fixed times."""
    tmp = out.with_suffix(".zip.tmp")
    count = 0
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_dir():
                continue
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), _FIXED_TIME)
            mode = path.stat().st_mode
            info.external_attr = (stat.S_IFREG | (0o755 if mode & 0o111 else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            count += 1
    os.replace(tmp, out)
    return count


def main() -> int:
    """Build the package root and the zip from the raco distribute folder, the wheels and the config."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, required=True, help="the folder `raco distribute` made")
    parser.add_argument("--wheels", type=Path, required=True, help="stdiobridge's wheel and its dependencies")
    parser.add_argument("--config", type=Path, required=True, help="stdiobridge.toml")
    parser.add_argument("--root", type=Path, required=True, help="where to assemble the package (emptied first)")
    parser.add_argument("--out", type=Path, required=True, help="the zip to write")
    parser.add_argument("--max-glibc", default="2.34", help="the Lambda image's glibc (AL2023: 2.34)")
    parser.add_argument("--python-version", default="3.12", help="the Lambda runtime's Python, for its bytecode")
    args = parser.parse_args()
    limit = tuple(int(p) for p in args.max_glibc.split("."))

    root: Path = args.root
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    app = root / "app"
    shutil.copytree(args.dist, app, symlinks=False)
    runtime = next((app / "lib" / "plt").glob("racketcs-*"), None) or app / "bin" / "application"
    sys_libs = app / "lib" / "sys"
    sys_libs.mkdir(parents=True)
    for lib in shared_libraries(runtime):
        shutil.copy2(lib, sys_libs / lib.name)
    for path in sorted(app.rglob("*")):
        if path.is_file() and is_elf(path):
            for change in fit_glibc(path, limit):
                print(f"  glibc: {path.relative_to(root)}: {change}")
            newest = max_glibc(path)
            if newest > limit:  # pragma: no cover - fit_glibc exits first
                raise SystemExit(f"{path} still needs glibc {newest}")
    launcher = root / "application"
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    shutil.copy2(args.config, root / "stdiobridge.toml")
    wheels = sorted(args.wheels.glob("*.whl"))
    if not any(w.name.startswith(("stdiobridge_py-", "stdiobridge-")) for w in wheels):
        raise SystemExit(f"no stdiobridge wheel in {args.wheels}")
    for wheel in wheels:
        unpack_wheel(wheel, root)
    compiled = precompile(root, args.python_version)
    if compiled:
        print(f"  bytecode: {compiled} .pyc files for Python {args.python_version}")
    count = write_zip(root, args.out)
    size = args.out.stat().st_size
    print(f"{args.out}: {count} files, {size / 1e6:.1f} MB (Lambda's limit: 50 MB zipped, 250 MB unpacked)")
    if size > 50_000_000:
        print("warning: over 50 MB: upload it through S3 (--code S3Bucket=...,S3Key=...)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
