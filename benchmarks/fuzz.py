"""The pipeline fuzzer at length: N cases of the generator in tests/fuzz (the one tests/fuzz/test_fuzz.py runs a few
dozen of under hypothesis) through write -> load -> QuantSpec -> quantise -> every backend.

Usage: python benchmarks/fuzz.py [--cases 1000] [--seed 0] [--only K] [--simulator icarus] [--timeout 120]
                                 [--keep DIR] [--work DIR]

Case k of seed S is ``case_from_seed(S * 1_000_000 + k)``; ``--only K`` replays it alone and prints what every stage
and backend said. Everything a case writes goes to a work folder (TMPDIR, SNNCOMPILE_CACHE and the working
directory point into it; default: a fresh temporary folder, removed at the end); the rtl backend runs in Icarus
(``--simulator verilator`` for Verilator). The summary table counts cases loaded, refused (per stage and error
class), quantised, and per backend PASS / FAIL / refused; then every finding with its case number and
description. ``--keep DIR`` copies each finding's .nir file and case description there.

Exit code 1 when any backend FAILs, an exception is not a SnnCompileError, a case writes outside its work folder
or times out; 0 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fuzz"))
from fuzz_cases import FuzzCase, case_from_seed  # noqa: E402
from fuzz_run import Outcome, OutsideWatch, Tally, run_case, sandbox  # noqa: E402

CASE_STRIDE = 1_000_000


class CaseTimeout(BaseException):  # not an Exception: the pipeline's handlers must not catch it
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise CaseTimeout


def case_seed(seed: int, k: int) -> int:
    return seed * CASE_STRIDE + k


def run_one(case: FuzzCase, work: Path, watch: OutsideWatch, simulator: str, timeout: int) -> Outcome:
    signal.alarm(timeout)
    try:
        return run_case(case, work, watch, simulator=simulator)
    except CaseTimeout:
        out = Outcome(stage="timeout")
        out.unexpected.append(f"timeout: the case ran longer than {timeout} s")
        return out
    finally:
        signal.alarm(0)


def show(k: int, case: FuzzCase, out: Outcome) -> str:
    lines = [f"case {k}: {case.describe()}", f"  stage {out.stage}, {out.seconds:.2f} s"]
    if out.generator:
        lines.append(f"  nir.write refused: {out.generator}")
    if out.refused:
        lines.append(f"  refused: {out.refused}: {out.message}")
    lines += [f"  {b}: {s}  {out.details.get(b, '')}".rstrip() for b, s in out.backends.items()]
    lines += [f"  BUG {b}" for b in out.bugs]
    lines += [f"  left behind: {p}" for p in out.left]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="first case number (default 0)")
    ap.add_argument("--only", type=int, default=None, help="replay case K alone, with every stage's message")
    ap.add_argument("--simulator", choices=("icarus", "verilator"), default="icarus")
    ap.add_argument("--timeout", type=int, default=120, help="seconds per case (default 120)")
    ap.add_argument("--keep", type=Path, default=None, help="copy each finding's .nir and description here")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a fresh temporary one)")
    ap.add_argument("--progress", type=int, default=50, help="print a line every N cases (0: never)")
    args = ap.parse_args(argv)
    numbers = [args.only] if args.only is not None else list(range(args.start, args.start + args.cases))
    work = (args.work or Path(tempfile.mkdtemp(prefix="snncompile-fuzz-"))).resolve()
    keep_dir = args.keep.resolve() if args.keep is not None else None  # the cases run in work/cwd
    work.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGALRM, _alarm)
    warnings.simplefilter("ignore")  # the quantiser's overflow-risk warnings: thousands of lines, not findings
    tally, watch, findings = Tally(), OutsideWatch(), []
    started = time.perf_counter()
    try:
        with sandbox(work):
            for i, k in enumerate(numbers, 1):
                case = case_from_seed(case_seed(args.seed, k))
                out = run_one(case, work, watch, args.simulator, args.timeout)
                tally.add(str(k), case, out)
                if args.only is not None:
                    print(show(k, case, out))
                    for text in out.unexpected:
                        print(text)
                if out.bugs:
                    findings.append(show(k, case, out))
                    if keep_dir is not None:
                        keep(keep_dir, k, case, work, show(k, case, out), out)
                if args.progress and i % args.progress == 0:
                    print(f"[{i}/{len(numbers)}] {time.perf_counter() - started:.0f} s, findings {len(findings)}",
                          flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nfuzz: seed {args.seed}, cases {numbers[0]}..{numbers[-1]}, rtl in {args.simulator}, "
          f"{time.perf_counter() - started:.0f} s wall\n")
    print(tally.table())
    print(tally.mutation_table())
    for text in findings:
        print("\n" + text)
    return 1 if tally.bugs else 0


def keep(folder: Path, k: int, case: FuzzCase, work: Path, text: str, out: Outcome) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        shutil.copy(work / "case" / "case.nir", folder / f"case_{k}.nir")
    (folder / f"case_{k}.txt").write_text(text + "\n\n" + "\n".join(out.unexpected) + "\n")


if __name__ == "__main__":
    sys.exit(main())
