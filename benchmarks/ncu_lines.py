"""Where a kernel's instructions and stall samples are, by source line: Nsight Compute's per-instruction counters
(its source page, SASS view) joined with the line table of the object the kernel was compiled into (-lineinfo).

On the GPU machine (the binary built with -lineinfo, e.g. tests/kernels' test_fused with NVCCFLAGS += -lineinfo):
    ncu --set full --kernel-name-base mangled -k regex:NAME --launch-count 1 -o rep ./build/kernels/test_fused ...
    ncu -i rep.ncu-rep --page source --csv --print-source sass > sass.csv
Then anywhere with the same object file:
    python benchmarks/ncu_lines.py sass.csv build/kernels/fused_mel_f32_in_f32.o NAME [--depth 2]
    python benchmarks/ncu_lines.py sass.csv OBJ NAME --file generic_analysis.cuh --stage span:289-302 --stage ...
The first form groups by the innermost `depth` frames of each instruction's inline chain (file:line <- caller ...);
the second by named line ranges of FILE, taking for each instruction the outermost frame in FILE that falls in a
range (so a helper inlined into a stage counts for that stage). Columns: warp instructions executed, stall samples
(all), shared-memory wavefronts against the ideal. NAME: a substring of the kernel's mangled name (the function's
label in the disassembly). The join checks each instruction's opcode against ncu's and reports mismatches (a
different build). Needs cuobjdump and nvdisasm: the CUDA toolkit's, or `pip install nvidia-cuda-cuobjdump
nvidia-cuda-nvdisasm`.
"""
from __future__ import annotations

import argparse
import csv
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for site in sys.path:  # the pip wheels put them under nvidia/cu*/bin
        hits = glob.glob(os.path.join(site, "nvidia", "cu*", "bin", name))
        if hits:
            return hits[0]
    sys.exit(f"ncu_lines: {name} not found (CUDA toolkit, or pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm)")


def disassemble(obj: str, name: str) -> dict[int, tuple[str, list[tuple[str, int]]]]:
    """offset -> (opcode, inline chain innermost first as (file, line)) of the function whose label contains name."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([_tool("cuobjdump"), "-xelf", "all", os.path.abspath(obj)], cwd=tmp, check=True,
                       capture_output=True)
        cubins = sorted(glob.glob(os.path.join(tmp, "*.cubin")))
        if not cubins:
            sys.exit(f"ncu_lines: no cubin in {obj}")
        text = "".join(subprocess.run([_tool("nvdisasm"), "-g", "-gi", c], check=True, capture_output=True,
                                      text=True).stdout for c in cubins)
    out: dict[int, tuple[str, list[tuple[str, int]]]] = {}
    inside, chain, in_comment = False, [], False
    for raw in text.split("\n"):
        s = raw.strip()
        if re.match(r"^\.text\..*:$", s):
            if inside:
                break
            inside = name in s
            continue
        if not inside:
            continue
        if s.startswith("//##"):
            if not in_comment:
                chain = []
            m = re.search(r'File "([^"]+)", line (\d+)', s)
            if m:
                chain.append((os.path.basename(m.group(1)), int(m.group(2))))
            in_comment = True
            continue
        in_comment = False
        m = re.match(r"/\*([0-9a-f]{4,})\*/\s+([^;\s]+)(\s+[^;\s]+)?", s)
        if m:
            op = m.group(2)
            if op.startswith("@") and m.group(3):  # predicated: the opcode follows the guard
                op = m.group(3).strip()
            out[int(m.group(1), 16)] = (op, list(chain))
    if not out:
        sys.exit(f"ncu_lines: no function whose label contains {name!r} in {obj}")
    return out


def read_ncu(path: str) -> list[dict[str, str]]:
    rows = list(csv.reader(open(path, newline="")))
    start = next(i for i, r in enumerate(rows) if r and r[0] == "Address")  # after the "Kernel Name" line
    hdr = rows[start]
    return [dict(zip(hdr, r)) for r in rows[start + 1:] if len(r) == len(hdr)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", help="ncu -i REP --page source --csv --print-source sass")
    ap.add_argument("obj", help="the object (or executable) the kernel was compiled into, with -lineinfo")
    ap.add_argument("name", help="a substring of the kernel's mangled name")
    ap.add_argument("--depth", type=int, default=2, help="inline frames per group (default 2)")
    ap.add_argument("--file", help="group by named line ranges of this file (basename)")
    ap.add_argument("--stage", action="append", default=[], metavar="NAME:LO-HI", help="a named range (repeat)")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args(argv)
    stages = []
    for st in args.stage:
        label, rng = st.split(":")
        lo, hi = rng.split("-")
        stages.append((label, int(lo), int(hi)))
    if stages and not args.file:
        ap.error("--stage needs --file")

    sass = disassemble(args.obj, args.name)
    rows = read_ncu(args.csv)
    base = int(rows[0]["Address"], 16)
    inst, stall, wf, wfi = Counter(), Counter(), Counter(), Counter()
    mismatch = 0
    for r in rows:
        off = int(r["Address"], 16) - base
        op, chain = sass.get(off, ("", []))
        src = r.get("Source", "").split()
        ncu_op = src[1] if src and src[0].startswith("@") and len(src) > 1 else (src[0] if src else "")
        if op.split(".")[0] != ncu_op.split(".")[0]:
            mismatch += 1
        if stages:
            key = "other"
            for f, line in reversed(chain):  # outermost first
                if f != args.file:
                    continue
                hit = next((label for label, lo, hi in stages if lo <= line <= hi), None)
                if hit:
                    key = hit
                    break
        else:
            key = " <- ".join(f"{f}:{line}" for f, line in chain[: args.depth]) or "?"
        inst[key] += int(r.get("Instructions Executed") or 0)
        stall[key] += int(r.get("Warp Stall Sampling (All Samples)") or 0)
        wf[key] += int(r.get("L1 Wavefronts Shared") or 0)
        wfi[key] += int(r.get("L1 Wavefronts Shared Ideal") or 0)
    total, total_stall = sum(inst.values()) or 1, sum(stall.values()) or 1
    print(f"{len(rows)} instructions, {mismatch} opcode mismatches; {total / 1e6:.2f} M warp instructions, "
          f"{total_stall} stall samples")
    print(f"{'inst %':>7} {'stall %':>7} {'smem wavefronts / ideal':>24}  where")
    for key, v in sorted(inst.items(), key=lambda kv: -kv[1])[: args.top]:
        ratio = f"{wf[key]}/{wfi[key]}" if wfi[key] else "-"
        print(f"{100 * v / total:7.1f} {100 * stall[key] / total_stall:7.1f} {ratio:>24}  {key}")
    return 0 if mismatch == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
