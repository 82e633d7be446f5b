#!/usr/bin/env python3
"""spectro — what the fused kernels compile to, without a GPU: registers, spills and the main loop's SASS.

    python scripts/sass_report.py fused_synthesis_f32_in_c64_out_f32
    python scripts/sass_report.py fused_analysis_f32_in_f32_out_c64 -D SPECTRO_FUSED_PREFETCH=0
    python scripts/sass_report.py fused_synthesis_f32_in_c64_out_f32 --kernel 'Pow2Synthesis M=1024' --lines

Compiles one generated instance (csrc/kernels/cuda/instances/<name>.cu) as the extension does (nvcc -O3 -lineinfo
--expt-relaxed-constexpr) for one architecture (--arch, default sm_90), disassembles it with nvdisasm and prints per
kernel entry: registers, spill bytes (ptxas), and its main loop (the longest backward branch: the kernels' round
loops): static instructions, local-memory loads / stores in it, and instructions by class. --lines adds, for the
kernels matching --kernel, the main loop's instructions per source line of the kernel's own file (the outermost
line of each inlined chain in that file), with the predicated ones.

Static counts, not a profile: a loop's instructions include paths a given call does not take. They are what a
change to the issue-bound kernels is first read by (notes/fused_perf.md, "Instruction counts per round"); device
timings decide. nvdisasm: $NVDISASM, else on PATH, next to nvcc, or from the nvidia-cuda-nvdisasm wheel.
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANCES = os.path.join(ROOT, "csrc", "kernels", "cuda", "instances")

CLASSES = [  # (class, opcode prefixes), first match wins
    ("fp32", ("FADD", "FMUL", "FFMA", "FMNMX", "FSEL", "FSETP", "MUFU", "FCHK")),
    ("fp64", ("DADD", "DMUL", "DFMA", "DSETP")),
    ("shared", ("LDS", "STS", "LDSM", "ATOMS")),
    ("global", ("LDG", "STG", "LDGSTS", "LDGDEPBAR", "DEPBAR", "RED", "ATOMG")),
    ("local", ("LDL", "STL")),
    ("const", ("LDC", "ULDC")),
    ("control", ("BRA", "BSSY", "BSYNC", "BAR", "EXIT", "CALL", "RET", "WARPSYNC", "NOP")),
    ("uniform", ("U",)),
]


def find_nvdisasm():
    for cand in (os.environ.get("NVDISASM"), shutil.which("nvdisasm")):
        if cand and os.path.exists(cand):
            return cand
    nvcc = shutil.which("nvcc")
    if nvcc:
        cand = os.path.join(os.path.dirname(os.path.realpath(nvcc)), "nvdisasm")
        if os.path.exists(cand):
            return cand
    try:
        import nvidia  # the nvidia-cuda-nvdisasm wheel

        for base in nvidia.__path__:
            for sub in ("cu13", "cuda_nvdisasm"):
                cand = os.path.join(base, sub, "bin", "nvdisasm")
                if os.path.exists(cand):
                    return cand
    except ImportError:
        pass
    sys.exit("sass_report: no nvdisasm (set NVDISASM, or pip install nvidia-cuda-nvdisasm)")


def short_name(mangled):
    m = re.search(r"fused_entryINS\d_(\d+)(\w+?)I", mangled)
    if not m:
        return mangled[:60]
    name = m.group(2)[: int(m.group(1))]
    lm = re.search(name + r"I\w+?Li(\d+)E", mangled)
    return f"{name} M={1 << int(lm.group(1))}" if lm else name


def opcode(ins):
    t = ins.split()
    if t[0].startswith("@"):
        t = t[1:]
    return t[0]


def op_class(op):
    for cls, prefixes in CLASSES:
        if op.startswith(prefixes):
            return cls
    return "int/other"


def parse(sass):
    """kernel mangled name -> (instructions [(address, text, inline chain [(file, line)])], labels)"""
    kernels = {}
    cur = None
    chain, pending, pending_labels = [], [], []
    for line in sass.splitlines():
        if line.startswith(".text."):
            name = line[len(".text."):].rstrip(":")
            cur = kernels.setdefault(name, ([], {})) if "fused_entry" in name else None
            chain, pending, pending_labels = [], [], []
            continue
        if cur is None:
            continue
        m = re.match(r'\s*//## File "([^"]+)", line (\d+)', line)
        if m:
            pending.append((os.path.basename(m.group(1)), int(m.group(2))))
            continue
        m = re.match(r"^(\.L_x_\d+):", line)
        if m:
            pending_labels.append(m.group(1))
            continue
        m = re.match(r"\s*/\*([0-9a-f]+)\*/\s+(.*?)\s*;", line)
        if m:
            if pending:
                chain, pending = pending, []
            addr = int(m.group(1), 16)
            for lab in pending_labels:
                cur[1][lab] = addr
            pending_labels = []
            cur[0].append((addr, m.group(2), chain))
    return kernels


def main_loop(insts, labels):
    best = None
    for addr, ins, _ in insts:
        m = re.search(r"`\((\.L_x_\d+)\)", ins)
        if m and opcode(ins).startswith("BRA") and labels.get(m.group(1), addr + 1) <= addr:
            lo = labels[m.group(1)]
            if best is None or addr - lo > best[1] - best[0]:
                best = (lo, addr)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("instance", help="a file of csrc/kernels/cuda/instances without .cu")
    ap.add_argument("-D", action="append", default=[], help="a macro for nvcc (a build-time knob), repeatable")
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--kernel", default="", help="only kernels whose short name contains this")
    ap.add_argument("--lines", action="store_true", help="the main loop's instructions per source line")
    args = ap.parse_args()
    src = os.path.join(INSTANCES, args.instance + ".cu")
    if not os.path.exists(src):
        sys.exit(f"sass_report: no instance {src}")
    nvcc = os.environ.get("NVCC", "nvcc")
    with tempfile.TemporaryDirectory() as tmp:
        cubin = os.path.join(tmp, "k.cubin")
        cmd = [nvcc, "-std=c++17", "-O3", "-lineinfo", "--expt-relaxed-constexpr", f"-arch={args.arch}", "-cubin",
               "-I", os.path.join(ROOT, "csrc"), "-Xptxas", "-v", src, "-o", cubin] + [f"-D{d}" for d in args.D]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(res.stdout + res.stderr)
        sass = subprocess.run([find_nvdisasm(), "-gi", cubin], capture_output=True, text=True, check=True).stdout
    usage = {}
    cur = None
    for line in res.stderr.splitlines():
        m = re.search(r"Function properties for (\S+)", line)
        if m:
            cur = m.group(1)
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and cur:
            usage.setdefault(cur, {})["spill"] = f"{m.group(1)}/{m.group(2)}"
        m = re.search(r"Compiling entry function '(\S+)'", line)
        if m:
            cur = m.group(1)
        m = re.search(r"Used (\d+) registers", line)
        if m and cur:
            usage.setdefault(cur, {})["regs"] = m.group(1)
    kernels = parse(sass)
    cols = [c for c, _ in CLASSES] + ["int/other"]
    print(f"{args.instance} ({args.arch}{''.join(' -D' + d for d in args.D)})")
    print(f"{'kernel':28s} {'regs':>4s} {'spill st/ld':>11s} {'loop':>5s} {'LDL/STL':>7s}  " +
          " ".join(f"{c:>8s}" for c in cols))
    for name, (insts, labels) in kernels.items():
        short = short_name(name)
        if args.kernel not in short:
            continue
        u = usage.get(name, {})
        loop = main_loop(insts, labels)
        body = [(a, i, ch) for a, i, ch in insts if loop and loop[0] <= a <= loop[1]]
        cls = collections.Counter(op_class(opcode(i)) for _, i, _ in body)
        local = sum(1 for _, i, _ in body if opcode(i).startswith(("LDL", "STL")))
        print(f"{short:28s} {u.get('regs', '?'):>4s} {u.get('spill', '?'):>11s} {len(body):5d} {local:7d}  " +
              " ".join(f"{cls[c]:8d}" for c in cols))
        if args.lines and body:
            own = None  # the kernel's own file: the outermost frame of the loop's first chains
            files = collections.Counter(ch[-2][0] for _, _, ch in body if len(ch) >= 2)
            if files:
                own = files.most_common(1)[0][0]
            per = collections.Counter()
            pred = collections.Counter()
            for _, ins, ch in body:
                lines = [ln for f, ln in ch if f == own]
                key = lines[-1] if lines else None
                per[key] += 1
                if ins.startswith("@"):
                    pred[key] += 1
            print(f"  main loop by line of {own} (instructions, predicated):")
            for key in sorted(per, key=lambda k: (k is None, k or 0)):
                print(f"    {key if key is not None else '-':>5}  {per[key]:6d}  {pred[key]:6d}")


if __name__ == "__main__":
    main()
