#!/usr/bin/env python3
"""Checks that the baseline kernels cannot end up running AVX code.

Each kernel variant is the same Swift sources compiled for another target
(cmake/modules/ScseKernelVariants.cmake). Code the compiler emits as a weak
or shared symbol (a generic specialisation, a runtime helper) gets the same
name in every variant; the linker keeps one copy, so the baseline kernels
could call the AVX2 copy. Two checks:

1. No text symbol with external linkage defined in the AVX2 archive is also
   defined in another archive linked into libscse.so (Baseline, ScseCore,
   ...), so no choice of the linker can swap copies.
2. In libscse.so, the functions of the ScseKernelsBaseline module and every
   function they reach (calls, jumps, address references) contain no
   instruction beyond x86-64: no VEX/EVEX encoded instruction (AVX, AVX2,
   FMA, BMI) and no LZCNT or MOVBE.

Usage: check_kernel_variants.py --objdump OBJDUMP --library libscse.so
           --avx2 libScseKernelsAVX2.a ARCHIVE_OR_OBJECT...
(the other archives and objects linked into libscse.so)
"""
import argparse
import re
import subprocess
import sys

BASELINE_MODULE = "ScseKernelsBaseline"
AVX2_MODULE = "ScseKernelsAVX2"
# x86-64-v3 instructions without a VEX prefix that a baseline CPU lacks
# (TZCNT is left out: it decodes as BSF on older CPUs and objdump prints
# the REP BSF that compilers emit for baseline targets as tzcnt).
NON_VEX_V3 = {"lzcnt", "movbe"}
# Mnemonics starting with v that are not AVX.
NOT_AVX = {"verr", "verw", "vmcall", "vmlaunch", "vmresume", "vmxoff", "vmxon",
           "vmread", "vmwrite", "vmptrld", "vmptrst", "vmclear", "vmfunc"}
BMI = {"andn", "bextr", "blsi", "blsmsk", "blsr", "bzhi", "mulx", "pdep", "pext",
       "rorx", "sarx", "shlx", "shrx"}


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def external_text_symbols(objdump, archive):
    """Text symbols with global or weak binding defined in `archive`."""
    names = set()
    for line in run([objdump, "-t", archive]).splitlines():
        # value, 7 flag characters, section, size, name
        m = re.match(r"^[0-9a-f]+ (.{7}) (\S+)\s+[0-9a-f]+\s+(.*)$", line)
        if not m:
            continue
        flags, section, name = m.groups()
        # flags[0]: l local, g global, u unique global; flags[1]: w weak
        if section.startswith(".text") and (flags[0] in "gu" or flags[1] == "w"):
            names.add(name.split()[-1])
    return names


def disassemble(objdump, library):
    """{function: [instruction lines]} for the text of `library`."""
    functions, current = {}, None
    for line in run([objdump, "-d", "--no-show-raw-insn", library]).splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            current = m.group(1)
            functions[current] = []
        elif current is not None and re.match(r"^\s+[0-9a-f]+:\t", line):
            functions[current].append(line.split("\t", 1)[1])
    return functions


def is_beyond_baseline(instruction):
    fields = instruction.split()
    if not fields:
        return False
    mnemonic = fields[0]
    if mnemonic in ("rex", "lock", "rep", "repz", "repnz", "notrack", "bnd", "data16") \
            and len(fields) > 1:
        mnemonic = fields[1]
    if mnemonic.startswith("v") and mnemonic not in NOT_AVX:
        return True
    base = re.sub(r"[lqwb]$", "", mnemonic)
    return mnemonic in NON_VEX_V3 or base in NON_VEX_V3 or mnemonic in BMI or base in BMI


def referenced_functions(instructions, functions):
    found = set()
    for instruction in instructions:
        for target in re.findall(r"<([^>+]+)(?:\+0x[0-9a-f]+)?>", instruction):
            if target in functions:
                found.add(target)
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--objdump", required=True)
    parser.add_argument("--library", required=True)
    parser.add_argument("--avx2", required=True)
    parser.add_argument("other", nargs="+")
    args = parser.parse_args()
    failures = []

    avx2 = external_text_symbols(args.objdump, args.avx2)
    for archive in args.other:
        for name in sorted(avx2 & external_text_symbols(args.objdump, archive)):
            failures.append(f"defined in {args.avx2} and {archive}: {name}")

    functions = disassemble(args.objdump, args.library)
    roots = [name for name in functions if BASELINE_MODULE in name]
    if not roots:
        failures.append(f"no {BASELINE_MODULE} function in {args.library}")
    seen, pending = set(roots), list(roots)
    while pending:
        name = pending.pop()
        if AVX2_MODULE in name:
            failures.append(f"baseline kernels reach {name}")
        for instruction in functions[name]:
            if is_beyond_baseline(instruction):
                failures.append(f"{name}: {instruction.strip()}")
                break
        for callee in referenced_functions(functions[name], functions) - seen:
            seen.add(callee)
            pending.append(callee)

    for failure in failures:
        print(failure)
    print(f"{len(roots)} baseline kernel functions, {len(seen)} functions reached, "
          f"{len(avx2)} external AVX2 text symbols; {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
