"""The Python and C examples of README.md and docs/*.md run, so they cannot rot.

Every ```python block of a document runs, in order, in one namespace per
document (later examples build on earlier ones, as a reader would type them),
in a temporary directory. Every C program (a ```c block with `int main`) is
compiled against include/scse.h and the libscse shipped in the installed
package, and run. The Swift examples are checked by
Tests/ScseTests/ReadmeExampleTests.swift; the CMake and pkg-config commands
by Tests/packaging/test_c_examples.sh.
"""
import glob
import os
import re
import shutil
import subprocess

import pytest

import scse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# README.md and every guide; paths relative to ROOT.
DOCUMENTS = ["README.md"] + sorted(
    os.path.relpath(path, ROOT) for path in glob.glob(os.path.join(ROOT, "docs", "*.md")))


def _blocks(document, language):
    with open(os.path.join(ROOT, document), encoding="utf-8") as f:
        text = f.read()
    return re.findall(r"^```" + language + r"\n(.*?)^```", text, flags=re.S | re.M)


def _c_programs(document):
    return [b for b in _blocks(document, "c") if "int main" in b]


PYTHON_DOCUMENTS = [d for d in DOCUMENTS if _blocks(d, "python")]
C_DOCUMENTS = [d for d in DOCUMENTS if _c_programs(d)]


def test_documents_have_examples():
    assert sum(len(_blocks(d, "python")) for d in DOCUMENTS) >= 8
    assert sum(len(_c_programs(d)) for d in DOCUMENTS) >= 1
    # The front page and the guides of the Python package and the C ABI show code.
    for document in ("README.md", "docs/python.md", "docs/pytorch.md", "docs/c.md"):
        assert document in PYTHON_DOCUMENTS, f"{document} has no python example"
    for document in ("README.md", "docs/c.md"):
        assert document in C_DOCUMENTS, f"{document} has no C program"


@pytest.mark.parametrize("document", PYTHON_DOCUMENTS)
def test_python_examples_run(document, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme_examples"}
    for number, block in enumerate(_blocks(document, "python"), start=1):
        try:
            exec(compile(block, f"{document} python block {number}", "exec"), namespace)
        except Exception as error:  # name the block that failed
            pytest.fail(f"{document} python block {number} failed: {error!r}\n{block}")
    scse.set_num_threads(0)


@pytest.mark.parametrize("document", C_DOCUMENTS)
def test_c_examples_compile_and_run(document, tmp_path):
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    assert compiler, "no C compiler found"
    package = os.path.dirname(scse.__file__)
    library = os.path.join(package, "libscse.so.0")
    assert os.path.exists(library), "the installed package has no libscse.so.0"
    for number, source in enumerate(_c_programs(document), start=1):
        (tmp_path / "example.c").write_text(source)
        program = tmp_path / f"example{number}"
        subprocess.run([compiler, "-std=c99", "-Wall", "-Werror", "-I", os.path.join(ROOT, "include"),
                        str(tmp_path / "example.c"), library, f"-Wl,-rpath,{package}", "-o", str(program)],
                       check=True)
        out = subprocess.run([str(program)], capture_output=True, text=True, check=True).stdout
        assert f"libscse {scse.__version__}: y[5] = 5" in out, f"{document} C program {number}: {out!r}"
