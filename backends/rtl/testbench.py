"""The self-checking testbench (tb.v) and its files: stimuli, golden records, and the dump it writes.

stimuli.txt   ``B T``, then per sample and step one line ``count addr...`` (input event addresses).
golden.txt    per sample, step, layer (graph order) and neuron one line ``layer neuron s v i x`` -- exactly the
              records the trace port emits; the testbench stops at the first difference, printing sample,
              timestep, layer, neuron, the field, expected and got, and exits non-zero.
dump.txt      (with +dump=FILE) every record as ``R b t layer neuron s v i x sat``, every output beat as
              ``O b t addr value``, and ``C b t cycles`` (cycles of each step, from its first input beat to
              step_done); read back by :func:`read_dump`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from snncompile.readout import Readout

from .plan import Plan
from .verilog import READOUT_BITS, addr_bits, bits_for, readout_index_bits, readout_instance


def stimuli_text(plan: Plan, data: Mapping[str, np.ndarray]) -> str:
    """Spikes per Input node (int [T, B, *shape]) as event lines."""
    parts = [data[s.name].reshape(data[s.name].shape[0], data[s.name].shape[1], -1)
             for s in plan.sources if s.name in plan.graph.inputs]
    spikes = np.concatenate(parts, axis=2) if parts else np.zeros((0, 0, 0), np.int64)
    T, B = int(spikes.shape[0]), int(spikes.shape[1])
    lines = [f"{B} {T}"]
    for b in range(B):
        for t in range(T):
            idx = np.flatnonzero(spikes[t, b])
            lines.append(" ".join(map(str, [len(idx), *idx.tolist()])))
    return "\n".join(lines) + "\n"


def neuron_inputs(plan: Plan, traces: Mapping[str, Mapping[str, np.ndarray]],
                  initial: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The summed input x [T, B, N] of every layer as bitsim computes it (recurrent edges: step t-1)."""
    g = plan.graph
    out: dict[str, np.ndarray] = {}
    for lay in plan.layers:
        total = None
        for p in g.predecessors(lay.name):
            tr = traces[p]["out"]
            if (p, lay.name) in g.recurrent_edges:
                start = np.broadcast_to(initial[p], tr.shape[1:])[None]
                tr = np.concatenate([start, tr[:-1]], axis=0)
            total = tr if total is None else total + tr
        assert total is not None
        out[lay.name] = total.reshape(total.shape[0], total.shape[1], -1)
    return out


def golden_text(plan: Plan, traces: Mapping[str, Mapping[str, np.ndarray]], x: Mapping[str, np.ndarray]) -> str:
    """The records the trace port must emit, in its order (sample, step, layer, neuron)."""
    blocks = []
    first = next(iter(x.values()))
    T, B = int(first.shape[0]), int(first.shape[1])
    for lay in plan.layers:
        tr = traces[lay.name]
        v = tr["v"].reshape(T, B, -1)
        s = tr["out"].reshape(T, B, -1) if lay.spiking else np.zeros_like(v)
        i = tr["i"].reshape(T, B, -1) if "i" in tr else np.zeros_like(v)
        n = np.broadcast_to(np.arange(lay.n), v.shape)
        layer = np.full(v.shape, lay.index)
        blocks.append(np.stack([layer, n, s, v, i, x[lay.name]], axis=-1))  # [T, B, N, 6]
    rows = np.concatenate(blocks, axis=2).transpose(1, 0, 2, 3).reshape(-1, 6)  # sample, step, layer, neuron
    return "".join(f"{a} {b} {c} {d} {e} {f}\n" for a, b, c, d, e, f in rows.tolist())


def read_dump(plan: Plan, text: str, T: int, B: int) -> tuple[dict[str, dict[str, np.ndarray]], np.ndarray]:
    """(per-layer records {layer: {"s", "v", "i", "x", "sat": [T, B, N]}}, cycles [B, T]) from a dump."""
    recs = {lay.name: {k: np.zeros((T, B, lay.n), np.int64) for k in ("s", "v", "i", "x", "sat")}
            for lay in plan.layers}
    cycles = np.zeros((B, T), np.int64)
    names = [lay.name for lay in plan.layers]
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "R":
            b, t, layer, n, s, v, i, x, sat = (int(a) for a in f[1:10])
            r = recs[names[layer]]
            r["s"][t, b, n], r["v"][t, b, n], r["i"][t, b, n], r["x"][t, b, n], r["sat"][t, b, n] = s, v, i, x, sat
        elif f[0] == "C":
            cycles[int(f[1]), int(f[2])] = int(f[3])
    return recs, cycles


def readout_text(values: np.ndarray) -> str:
    """readout.txt: ``B W``, then per sample one line of its W readout words (scores, then the class)."""
    B, W = values.shape
    return "\n".join([f"{B} {W}", *(" ".join(str(int(v)) for v in row) for row in values)]) + "\n"


def _readout_parts(plan: Plan, readout: Readout | None) -> tuple[str, str, str]:
    """(declarations, the per-sample check, its opening) of tb.v for a readout; empty without one."""
    if readout is None:
        return "", "", ""
    iw = readout_index_bits(readout)
    decl = "\n".join([
        "    reg finish = 1'b0;", "    wire res_valid, res_last, res_busy;", f"    wire [{iw - 1}:0] res_index;",
        f"    wire signed [{READOUT_BITS - 1}:0] res_value;", "    integer fr, rb, rw, w, g_word, rchecking;",
        "    reg [8*1024-1:0] ro_path;",
        *readout_instance(plan, readout, "out_valid && out_ready"), ""])
    check = f"""            // the readout of this sample: pulse finish, then {readout.words} words, one per cycle
            finish = 1'b1;
            @(negedge clk);
            finish = 1'b0;
            for (w = 0; w < {readout.words}; w = w + 1) begin
                while (!res_valid) @(negedge clk);
                if (dumping) $fwrite(fd, "Q %0d %0d %0d\\n", b, res_index, res_value);
                if (rchecking) begin
                    r = $fscanf(fr, "%d", g_word);
                    if (r != 1) begin $display("MISMATCH sample %0d readout: readout file ends", b); `SNN_EXIT(1); end
                    if (res_index != w || g_word != res_value) begin
                        $display("MISMATCH sample %0d readout word %0d: expected %0d got %0d", b, w, g_word,
                                 res_value);
                        `SNN_EXIT(1);
                    end
                end
                @(negedge clk);
            end
"""
    opening = """        rchecking = $value$plusargs("readout=%s", ro_path);
        if (rchecking) begin
            fr = $fopen(ro_path, "r");
            if (fr == 0) begin $display("ERROR cannot open readout %0s", ro_path); `SNN_EXIT(2); end
            r = $fscanf(fr, "%d %d", rb, rw);
        end
"""
    return decl, check, opening


def tb_text(plan: Plan, readout: Readout | None = None) -> str:
    """tb.v: drives snn_core from stimuli.txt, checks every trace record against golden.txt, dumps on request;
    with a readout, also checks the readout words of every sample against +readout=FILE when given."""
    iaw = addr_bits(max(plan.n_in, 1))
    r_decl, r_check, r_open = _readout_parts(plan, readout)
    names = "\n".join(f"            {lay.index}: layer_name = \"{_vstring(lay.name)}\";" for lay in plan.layers)
    return f"""// Generated by snncompile (rtl backend): self-checking testbench for snn_core.
// Plusargs: +stimuli=FILE (default stimuli.txt) +golden=FILE (default golden.txt; +nogolden to skip the check)
//           +dump=FILE (write every trace record, output beat and step cycle count).
// Exit status: 0 when every record equals golden, non-zero at the first mismatch (printed).
`timescale 1ns/1ps
`ifdef VERILATOR
`define SNN_EXIT(code) $fatal(1, "rtl testbench: failed")
`else
`define SNN_EXIT(code) $finish_and_return(code)
`endif
module tb;
    reg clk = 1'b0;
    always #5 clk = ~clk;
    reg rst = 1'b1, start = 1'b0, in_valid = 1'b0, in_eot = 1'b0, out_ready = 1'b1;
    reg [{iaw - 1}:0] in_addr = 0;
    wire idle, in_ready, out_valid, out_eot, step_done, trace_valid;
    wire [{max(p.bits for p in plan.ports) - 1}:0] out_value;
    wire [{addr_bits(max(plan.n_out, 1)) - 1}:0] out_addr;
    wire [{bits_for(len(plan.layers)) - 1}:0] trace_layer;
    wire [{max(bits_for(lay.n) for lay in plan.layers)}:0] trace_n;
    wire [{max(lay.s_bits for lay in plan.layers) - 1}:0] trace_s;
    wire signed [63:0] trace_v, trace_i, trace_x;
    wire [1:0] trace_sat;
{r_decl}    snn_core dut (
        .clk(clk), .rst(rst), .start(start), .idle(idle), .in_valid(in_valid), .in_ready(in_ready),
        .in_addr(in_addr), .in_eot(in_eot), .out_valid(out_valid), .out_ready(out_ready), .out_addr(out_addr),
        .out_value(out_value), .out_eot(out_eot), .step_done(step_done), .trace_valid(trace_valid),
        .trace_layer(trace_layer), .trace_n(trace_n), .trace_s(trace_s), .trace_v(trace_v), .trace_i(trace_i),
        .trace_x(trace_x), .trace_sat(trace_sat)
    );

    reg [8*1024-1:0] stim_path, gold_path, dump_path;
    reg [8*80-1:0] layer_name;
    integer fs, fg, fd, r, nb, nt, b, t, cnt, k, a, checking, dumping, records;
    integer g_layer, g_n, g_s;
    reg signed [63:0] g_v, g_i, g_x;
    reg [63:0] cycle, step_start;

    always @(posedge clk) cycle <= rst ? 64'd0 : cycle + 1;

    task fail_at;
        input [8*8-1:0] what;
        input signed [63:0] expected;
        input signed [63:0] got;
        begin
            case (trace_layer)
{names}
                default: layer_name = "?";
            endcase
            $display("MISMATCH sample %0d timestep %0d layer %0d (%0s) neuron %0d %0s: expected %0d got %0d",
                     b, t, trace_layer, layer_name, trace_n, what, expected, got);
            `SNN_EXIT(1);
        end
    endtask

    always @(negedge clk) if (trace_valid) begin
        records = records + 1;
        if (dumping) $fwrite(fd, "R %0d %0d %0d %0d %0d %0d %0d %0d %0d\\n", b, t, trace_layer, trace_n, trace_s,
                             trace_v, trace_i, trace_x, trace_sat);
        if (checking) begin
            r = $fscanf(fg, "%d %d %d %d %d %d", g_layer, g_n, g_s, g_v, g_i, g_x);
            if (r != 6) begin
                $display("MISMATCH sample %0d timestep %0d: golden file ends before record %0d", b, t, records);
                fail_at("record", 0, 0);
            end
            if (g_layer !== trace_layer) fail_at("layer", g_layer, trace_layer);
            if (g_n !== trace_n) fail_at("neuron", g_n, trace_n);
            if (g_s !== trace_s) fail_at("spike", g_s, trace_s);
            if (g_v !== trace_v) fail_at("v", g_v, trace_v);
            if (g_i !== trace_i) fail_at("i", g_i, trace_i);
            if (g_x !== trace_x) fail_at("x", g_x, trace_x);
        end
    end
    always @(negedge clk) if (dumping && out_valid && !out_eot)
        $fwrite(fd, "O %0d %0d %0d %0d\\n", b, t, out_addr, $signed(out_value));

    task send;
        input [{iaw - 1}:0] addr;
        input eot;
        begin
            in_valid = 1'b1;
            in_addr = addr;
            in_eot = eot;
            while (!in_ready) @(negedge clk);   // ready at this negedge: the next posedge takes the beat
            @(negedge clk);
            in_valid = 1'b0;
            in_eot = 1'b0;
        end
    endtask

    initial begin
        records = 0;
        b = 0;
        t = 0;
        if (!$value$plusargs("stimuli=%s", stim_path)) stim_path = "stimuli.txt";
        if (!$value$plusargs("golden=%s", gold_path)) gold_path = "golden.txt";
        checking = !$test$plusargs("nogolden");
        dumping = $value$plusargs("dump=%s", dump_path);
        fs = $fopen(stim_path, "r");
        if (fs == 0) begin $display("ERROR cannot open stimuli %0s", stim_path); `SNN_EXIT(2); end
        if (checking) begin
            fg = $fopen(gold_path, "r");
            if (fg == 0) begin $display("ERROR cannot open golden %0s", gold_path); `SNN_EXIT(2); end
        end
        if (dumping) fd = $fopen(dump_path, "w");
{r_open}        r = $fscanf(fs, "%d %d", nb, nt);
        repeat (4) @(negedge clk);
        rst = 1'b0;
        @(negedge clk);
        for (b = 0; b < nb; b = b + 1) begin
            start = 1'b1;
            @(negedge clk);
            start = 1'b0;
            @(negedge clk);
            while (!in_ready) @(negedge clk);
            for (t = 0; t < nt; t = t + 1) begin
                step_start = cycle;
                r = $fscanf(fs, "%d", cnt);
                for (k = 0; k < cnt; k = k + 1) begin
                    r = $fscanf(fs, "%d", a);
                    send(a, 1'b0);
                end
                send(0, 1'b1);
                while (!step_done) @(negedge clk);
                if (dumping) $fwrite(fd, "C %0d %0d %0d\\n", b, t, cycle - step_start);
                @(negedge clk);
            end
{r_check}        end
        $display("PASS %0d records, %0d samples x %0d steps, %0d cycles", records, nb, nt, cycle);
        if (dumping) $fclose(fd);
        $finish;
    end
endmodule
"""


def _vstring(name: str) -> str:
    """A node name inside a Verilog string literal: printable ASCII, no quotes or backslashes, bounded."""
    text = "".join(c if c.isprintable() and c not in '"\\' and ord(c) < 128 else "?" for c in name)
    return text if len(text) <= 80 else text[:77] + "..."

