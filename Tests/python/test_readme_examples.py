"""The README's Python and C examples run, so they cannot rot.

Every ```python block of README.md runs, in order, in one namespace (later
examples build on earlier ones, as a reader would type them), in a temporary
directory. The C block of "A first C program" is compiled against
include/scse.h and the libscse shipped in the installed package, and run.
The Swift example is checked by Tests/ScseTests/ReadmeExampleTests.swift;
the CMake and pkg-config commands by Tests/packaging/test_c_examples.sh.
"""
import os
import re
import shutil
import subprocess

import pytest

import scse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
README = os.path.join(ROOT, "README.md")


def _blocks(language):
    with open(README, encoding="utf-8") as f:
        text = f.read()
    return re.findall(r"^```" + language + r"\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_has_examples():
    assert len(_blocks("python")) >= 8
    assert len(_blocks("c")) >= 1


def test_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme_examples"}
    for number, block in enumerate(_blocks("python"), start=1):
        try:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        except Exception as error:  # name the block that failed
            pytest.fail(f"README python block {number} failed: {error!r}\n{block}")
    scse.set_num_threads(0)


def test_c_example_compiles_and_runs(tmp_path):
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    assert compiler, "no C compiler found"
    source = next(b for b in _blocks("c") if "int main" in b)
    (tmp_path / "example.c").write_text(source)
    package = os.path.dirname(scse.__file__)
    library = os.path.join(package, "libscse.so.0")
    assert os.path.exists(library), "the installed package has no libscse.so.0"
    program = tmp_path / "example"
    subprocess.run([compiler, "-std=c99", "-Wall", "-Werror", "-I", os.path.join(ROOT, "include"),
                    str(tmp_path / "example.c"), library, f"-Wl,-rpath,{package}", "-o", str(program)],
                   check=True)
    out = subprocess.run([str(program)], capture_output=True, text=True, check=True).stdout
    assert f"libscse {scse.__version__}: y[5] = 5" in out
