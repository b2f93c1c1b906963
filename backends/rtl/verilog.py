"""The generated top level ``snn_core`` (and its synthesis wrapper ``snn_top``): a printer of a :class:`Plan`.

``snn_core`` instantiates one ``snn_event_queue`` per spike source, one ``snn_layer`` per
layer and an output buffer, and sequences a timestep:

    start -> init all layers (states to their initial values, queues empty)
    per timestep: queues step -> receive input events (in_valid/in_ready, in_eot closes the step)
               -> layers in graph order (go .. done) -> stream the non-zero outputs (out_valid/out_ready,
                  out_eot closes the step) -> step_done

The trace port (one record per neuron update: layer, neuron, s, v, i, x, saturation flags)
is what the testbench checks against bitsim's golden traces; ``snn_top`` leaves it out.
"""

from __future__ import annotations

import hashlib
import re

from snncompile.readout import Readout

from .memfiles import PARAM_FIELDS, param_layout
from .plan import Layer, Plan

SEMANTIC_CODES = {
    "rounding": {"toward_zero": 0, "floor": 1, "nearest": 2, "shift_subtract": 3},
    "overflow": {"saturate": 0, "wrap": 1, "wrap_loihi": 2},
    "reset": {"none": 0, "zero": 1, "subtract": 2},
    "timing": {"immediate": 0, "delayed": 1, "snntorch_immediate": 2},
}


def bits_for(count: int) -> int:
    """Bits of an unsigned counter that holds 0..count."""
    return max(1, int(count).bit_length())


def addr_bits(n: int) -> int:
    """Bits of an address 0..n-1."""
    return max(1, int(n - 1).bit_length())


def sv(value: int, width: int = 64) -> str:
    """A signed Verilog literal."""
    value = int(value)
    return f"-{width}'sd{-value}" if value < 0 else f"{width}'sd{value}"


def mem_name(layer: Layer, what: str) -> str:
    return f"mem/l{layer.index}_{what}.hex"


def layer_params(layer: Layer, count_bits: dict[str, int]) -> list[tuple[str, str]]:
    """The parameter list of one snn_layer instance."""
    node, sem = layer.node, layer.node.semantics
    values, layout = param_layout(layer)
    qcw = max(bits_for(e.weight.shape[1]) for e in layer.edges)
    qaw = max(addr_bits(e.weight.shape[1]) for e in layer.edges)
    qnw = max(count_bits.get(e.source, 1) for e in layer.edges)
    depth = sum(e.weight.shape[1] for e in layer.edges) * layer.groups
    bases = "{" + ", ".join(f"32'd{e.base}" for e in reversed(layer.edges)) + "}"
    cap = sem.spike_cap if sem.spikes == "multi" else 1
    p: list[tuple[str, str]] = [
        ("N", str(layer.n)), ("P", str(layer.lanes)), ("G", str(layer.groups)),
        ("NAW", str(bits_for(layer.n))), ("GAW", str(bits_for(layer.groups))),
        ("K", str(len(layer.edges))), ("KW", str(bits_for(len(layer.edges)))), ("QAW", str(qaw)),
        ("QCW", str(qcw)), ("QNW", str(qnw)), ("EDGE_BASE", bases), ("WB", str(layer.w_bits)), ("WDEPTH", str(depth)),
        ("WAW", str(addr_bits(depth))), ("W_INIT", f'"{mem_name(layer, "w")}"'), ("ACCW", str(layer.acc_bits)),
        ("RSH", str(layer.rsh)), ("SYN_DELAY", str(sem.synapse_delay)), ("SW", str(layer.s_bits)),
        ("VW", str(layer.v_bits)), ("IW", str(layer.i_bits)), ("XW", str(layer.x_bits)),
        ("W", str(layer.datapath)), ("FB", str(node.frac_bits)), ("IB", str(node.i_bits)), ("VB", str(node.v_bits)),
        ("CUBA", str(int(layer.cuba))), ("SPIKING", str(int(layer.spiking))),
        ("ADD_THEN_DECAY", str(int(sem.synapse_order == "add_then_decay"))),
        ("ROUND", str(SEMANTIC_CODES["rounding"][sem.rounding])),
        ("OVI", str(SEMANTIC_CODES["overflow"][sem.overflow_i])),
        ("OVV", str(SEMANTIC_CODES["overflow"][sem.overflow_v])), ("CMP_GE", str(int(sem.compare == "ge"))),
        ("RESET", str(SEMANTIC_CODES["reset"][sem.reset])), ("TIMING", str(SEMANTIC_CODES["timing"][sem.timing])),
        ("DZ_STATE", str(int(sem.delayed_zero == "state"))), ("MULTI", str(int(sem.spikes == "multi"))),
        ("CAP", str(cap)), ("ISH", str(node.input_shift)), ("HAS_VMIN", str(int(node.v_min is not None))),
    ]
    mask = 0
    for bit, name in enumerate(PARAM_FIELDS):
        p.append((name.upper(), sv(values[name][0] if values[name].size else 0)))
        if name in layout:
            mask |= 1 << bit
            off, width = layout[name]
            p += [(f"O_{name.upper()}", str(off)), (f"L_{name.upper()}", str(width))]
    p += [("PMASK", f"{len(PARAM_FIELDS)}'d{mask}"), ("PWIDTH", str(max(1, sum(w for _, w in layout.values()))))]
    if layout:
        p.append(("P_INIT", f'"{mem_name(layer, "p")}"'))
    return p


def _instance(module: str, name: str, params: list[tuple[str, str]], ports: list[tuple[str, str]]) -> list[str]:
    lines = [f"    {module} #("]
    lines += [f"        .{k}({v})," for k, v in params[:-1]] + [f"        .{params[-1][0]}({params[-1][1]})"]
    lines.append(f"    ) {name} (")
    lines += [f"        .{k}({v})," for k, v in ports[:-1]] + [f"        .{ports[-1][0]}({ports[-1][1]})"]
    return lines + ["    );"]


def core(plan: Plan) -> str:
    """The text of snn_core.v."""
    layers, sources, ports = plan.layers, plan.sources, plan.ports
    n_layers = len(layers)
    iaw, oaw = addr_bits(max(plan.n_in, 1)), addr_bits(max(plan.n_out, 1))
    ovw = max(p.bits for p in ports)
    lw = bits_for(n_layers)
    naw = max(bits_for(lay.n) for lay in layers) + 1
    sw = max(lay.s_bits for lay in layers)
    slowest = max(layers, key=lambda lay: max(lay.n, lay.groups)).index
    L: list[str] = [
        "// Generated by snncompile (rtl backend): the network's top level. Do not edit; re-export instead.",
        "`default_nettype none",
        "module snn_core (",
        "    input  wire clk,", "    input  wire rst,",
        "    input  wire start,", "    output wire idle,",
        "    input  wire in_valid,", "    output wire in_ready,", f"    input  wire [{iaw - 1}:0] in_addr,",
        "    input  wire in_eot,",
        "    output reg  out_valid,", "    input  wire out_ready,", f"    output reg  [{oaw - 1}:0] out_addr,",
        f"    output reg  signed [{ovw - 1}:0] out_value,", "    output reg  out_eot,",
        "    output reg  step_done,",
        "    output wire trace_valid,", f"    output wire [{lw - 1}:0] trace_layer,",
        f"    output wire [{naw - 1}:0] trace_n,", f"    output wire [{sw - 1}:0] trace_s,",
        "    output wire signed [63:0] trace_v,", "    output wire signed [63:0] trace_i,",
        "    output wire signed [63:0] trace_x,", "    output wire [1:0] trace_sat",
        ");",
        "    localparam T_IDLE = 3'd0, T_INIT = 3'd1, T_RECV = 3'd2, T_LAYER = 3'd3, T_OUT_RD = 3'd4,",
        "               T_OUT_CHK = 3'd5, T_OUT_SEND = 3'd6, T_OUT_EOT = 3'd7;",
        "    reg [2:0] tstate;",
        f"    reg [{lw - 1}:0] li;",
        f"    reg [{oaw}:0] o;",
        "    reg init_p, q_step;",
        f"    reg [{n_layers - 1}:0] go;",
        f"    wire [{n_layers - 1}:0] done;",
        "    assign idle = tstate == T_IDLE || (tstate == T_RECV && !q_step);",
        "    assign in_ready = tstate == T_RECV && !q_step && !start;",
        "    wire in_fire = in_valid && in_ready && !in_eot;",
    ]
    for lay in layers:
        i = lay.index
        L += [f"    // layer {i}: node {comment(lay.name)}",
              f"    wire [{bits_for(len(lay.edges)) - 1}:0] l{i}_ev_k;",
              f"    wire l{i}_busy, l{i}_ov, l{i}_sat_i, l{i}_sat_v;",
              f"    wire [{max(bits_for(e.weight.shape[1]) for e in lay.edges) - 1}:0] l{i}_ev_idx, l{i}_ev_count;",
              f"    wire [{max(addr_bits(e.weight.shape[1]) for e in lay.edges) - 1}:0] l{i}_ev_addr;",
              f"    wire [{bits_for(lay.n)}:0] l{i}_on;", f"    wire [{lay.s_bits - 1}:0] l{i}_os;",
              f"    wire signed [{lay.datapath - 1}:0] l{i}_ovv, l{i}_oi, l{i}_ox;"]
    # event queues
    counted = {q.name: q.count_bits for q in sources}
    for q in sources:
        n, qc, qa, cb = q.n, bits_for(q.n), addr_bits(q.n), q.count_bits
        width = qa + (cb if cb > 1 else 0)  # a multi-spike event carries its count above the address
        s = f"q_{ident(q.name)}"
        if q.name in plan.graph.inputs:
            hit = f"in_fire && in_addr >= {q.offset} && in_addr < {q.offset + n}"
            L.append(f"    wire [{iaw - 1}:0] {s}_local = in_addr - {iaw}'d{q.offset};")
            push, paddr = hit, f"{s}_local[{qa - 1}:0]"
        else:
            li_ = plan.layer(q.name).index
            push = f"l{li_}_ov && l{li_}_os != 0"
            paddr = f"{{l{li_}_os, l{li_}_on[{qa - 1}:0]}}" if cb > 1 else f"l{li_}_on[{qa - 1}:0]"
        readers = [(lay, k, e) for lay in layers for k, e in enumerate(lay.edges) if e.source == q.name]
        sel_idx = " : ".join(f"(li == {lay.index} && l{lay.index}_ev_k == {k}) ? l{lay.index}_ev_idx[{qc - 1}:0]"
                             for lay, k, e in readers) + f" : {qc}'d0"
        sel_prev = " : ".join(f"(li == {lay.index} && l{lay.index}_ev_k == {k}) ? 1'b{int(e.delayed)}"
                              for lay, k, e in readers) + " : 1'b0"
        L += [f"    wire [{width - 1}:0] {s}_word;", f"    wire [{qa - 1}:0] {s}_addr = {s}_word[{qa - 1}:0];",
              f"    wire [{cb - 1}:0] {s}_cnt = " + (f"{s}_word[{width - 1}:{qa}];" if cb > 1 else "1'b1;"),
              f"    wire [{qc - 1}:0] {s}_cur, {s}_prev;"]
        L += _instance("snn_event_queue", s, [("N", str(n)), ("AW", str(width)), ("CW", str(qc))], [
            ("clk", "clk"), ("clear", "init_p"), ("step", "q_step"), ("push", push), ("push_addr", paddr),
            ("rd_prev", sel_prev), ("rd_idx", sel_idx), ("rd_addr", f"{s}_word"), ("count_cur", f"{s}_cur"),
            ("count_prev", f"{s}_prev")])
    for lay in layers:
        i = lay.index
        qcw = max(bits_for(e.weight.shape[1]) for e in lay.edges)
        qaw = max(addr_bits(e.weight.shape[1]) for e in lay.edges)
        qnw = max(counted[e.source] for e in lay.edges)
        counts = " : ".join(f"(l{i}_ev_k == {k}) ? {qcw}'d0 + q_{ident(e.source)}_"
                            f"{'prev' if e.delayed else 'cur'}" for k, e in enumerate(lay.edges)) + f" : {qcw}'d0"
        addrs = " : ".join(f"(l{i}_ev_k == {k}) ? {qaw}'d0 + q_{ident(e.source)}_addr"
                           for k, e in enumerate(lay.edges)) + f" : {qaw}'d0"
        cnts = " : ".join(f"(l{i}_ev_k == {k}) ? {qnw}'d0 + q_{ident(e.source)}_cnt"
                          for k, e in enumerate(lay.edges)) + f" : {qnw}'d1"
        L += [f"    wire [{qnw - 1}:0] l{i}_ev_cnt = {cnts};",
              f"    assign l{i}_ev_count = {counts};", f"    assign l{i}_ev_addr = {addrs};"]
        L += _instance("snn_layer", f"layer{i}", layer_params(lay, counted), [
            ("clk", "clk"), ("rst", "rst"), ("init", "init_p"), ("go", f"go[{i}]"), ("done", f"done[{i}]"),
            ("busy", f"l{i}_busy"), ("ev_k", f"l{i}_ev_k"), ("ev_idx", f"l{i}_ev_idx"),
            ("ev_count", f"l{i}_ev_count"), ("ev_addr", f"l{i}_ev_addr"), ("ev_cnt", f"l{i}_ev_cnt"),
            ("out_valid", f"l{i}_ov"),
            ("out_n", f"l{i}_on"), ("out_s", f"l{i}_os"), ("out_v", f"l{i}_ovv"), ("out_i", f"l{i}_oi"),
            ("out_x", f"l{i}_ox"), ("out_sat_i", f"l{i}_sat_i"), ("out_sat_v", f"l{i}_sat_v")])
    # trace port: the active layer's records
    def mux(field: str, default: str) -> str:
        return " : ".join(f"(li == {lay.index}) ? {field.format(i=lay.index)}" for lay in layers) + f" : {default}"
    z = "'"
    L += [f"    assign trace_valid = {' || '.join(f'l{lay.index}_ov' for lay in layers)};",
          "    assign trace_layer = li;",
          f"    assign trace_n = {mux(f'{naw}{z}d0 + l{{i}}_on', f'{naw}{z}d0')};",
          f"    assign trace_s = {mux(f'{sw}{z}d0 + l{{i}}_os', f'{sw}{z}d0')};",
          f"    assign trace_v = {mux('l{i}_ovv', f'64{z}sd0')};",
          f"    assign trace_i = {mux('l{i}_oi', f'64{z}sd0')};",
          f"    assign trace_x = {mux('l{i}_ox', f'64{z}sd0')};",
          f"    assign trace_sat = {mux('{{l{i}_sat_i, l{i}_sat_v}}', f'2{z}b00')};"]
    # output buffer
    obuf_we = " || ".join(f"l{plan.layer(p.layer).index}_ov" for p in ports)
    obuf_addr = " : ".join(f"l{plan.layer(p.layer).index}_ov ? {p.offset} + l{plan.layer(p.layer).index}_on"
                           for p in ports) + " : 0"
    obuf_data = " : ".join(
        f"l{plan.layer(p.layer).index}_ov ? "
        + (f"$signed({{1'b0, l{plan.layer(p.layer).index}_os}})" if plan.layer(p.layer).spiking
           else f"l{plan.layer(p.layer).index}_ovv[{p.bits - 1}:0]") for p in ports) + f" : {ovw}'sd0"
    L += [f"    wire signed [{ovw - 1}:0] ob_rdata;", f"    wire [{oaw}:0] ob_waddr = {obuf_addr};",
          f"    wire signed [{ovw - 1}:0] ob_wdata = {obuf_data};"]
    L += _instance("snn_ram", "obuf", [("WIDTH", str(ovw)), ("DEPTH", str(plan.n_out)), ("AW", str(oaw + 1))], [
        ("clk", "clk"), ("we", obuf_we), ("waddr", "ob_waddr"), ("wdata", "ob_wdata"),
        ("re", "tstate == T_OUT_RD"), ("raddr", "o"), ("rdata", "ob_rdata")])
    L += _sequencer(n_layers, slowest, plan.n_out)
    L += ["endmodule", "`default_nettype wire", ""]
    return "\n".join(L)


def _sequencer(n_layers: int, slowest: int, n_out: int) -> list[str]:
    return [
        "    always @(posedge clk) begin",
        "        init_p <= 1'b0;", "        q_step <= 1'b0;", "        go <= 0;", "        step_done <= 1'b0;",
        "        if (rst) begin",
        "            tstate <= T_IDLE;", "            out_valid <= 1'b0;", "            out_eot <= 1'b0;",
        "        end else if (start && idle) begin",
        "            init_p <= 1'b1;", "            tstate <= T_INIT;",
        "        end else case (tstate)",
        f"            T_INIT: if (done[{slowest}] && !init_p) begin q_step <= 1'b1; tstate <= T_RECV; end",
        "            T_RECV: if (in_valid && in_ready && in_eot) begin li <= 0; go[0] <= 1'b1; tstate <= T_LAYER; end",
        "            T_LAYER: if (done[li]) begin",
        f"                if (li == {n_layers - 1}) begin o <= 0; tstate <= T_OUT_RD; end",
        "                else begin li <= li + 1'b1; go[li + 1] <= 1'b1; end",
        "            end",
        "            T_OUT_RD: tstate <= T_OUT_CHK;",
        "            T_OUT_CHK: begin",
        "                if (ob_rdata != 0) begin",
        "                    out_valid <= 1'b1; out_addr <= o; out_value <= ob_rdata; tstate <= T_OUT_SEND;",
        f"                end else if (o == {n_out - 1}) begin",
        "                    out_valid <= 1'b1; out_eot <= 1'b1; tstate <= T_OUT_EOT;",
        "                end",
        "                else begin o <= o + 1'b1; tstate <= T_OUT_RD; end",
        "            end",
        "            T_OUT_SEND: if (out_ready) begin",
        "                out_valid <= 1'b0;",
        f"                if (o == {n_out - 1}) begin out_valid <= 1'b1; out_eot <= 1'b1; tstate <= T_OUT_EOT; end",
        "                else begin o <= o + 1'b1; tstate <= T_OUT_RD; end",
        "            end",
        "            T_OUT_EOT: if (out_ready) begin",
        "                out_valid <= 1'b0; out_eot <= 1'b0; step_done <= 1'b1; q_step <= 1'b1; tstate <= T_RECV;",
        "            end",
        "            default: tstate <= T_IDLE;",
        "        endcase",
        "    end",
    ]


def comment(name: str) -> str:
    """A node name safe inside a // comment (one line, bounded)."""
    text = repr(name).replace("\\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def ident(name: str) -> str:
    """A Verilog identifier for a node name: bounded, unique (a hash of the name), the name itself in comments."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", name)[:32]
    return f"{base}_{hashlib.sha1(name.encode()).hexdigest()[:6]}"


def top(plan: Plan, readout: Readout | None = None) -> str:
    """snn_top.v: snn_core without the trace port (the module to synthesise and to drop into a project), with the
    readout (``snn_readout``) on its output beats when ``readout`` is given."""
    iaw, oaw = addr_bits(max(plan.n_in, 1)), addr_bits(max(plan.n_out, 1))
    ovw = max(p.bits for p in plan.ports)
    head = ["// Generated by snncompile (rtl backend): the synthesis top level (snn_core without its trace port).",
            "`default_nettype none",
            "module snn_top (",
            "    input  wire clk,", "    input  wire rst,", "    input  wire start,", "    output wire idle,",
            "    input  wire in_valid,", "    output wire in_ready,", f"    input  wire [{iaw - 1}:0] in_addr,",
            "    input  wire in_eot,", "    output wire out_valid,", "    input  wire out_ready,",
            f"    output wire [{oaw - 1}:0] out_addr,", f"    output wire signed [{ovw - 1}:0] out_value,",
            "    output wire out_eot,"]
    body = ["    snn_core core (",
            "        .clk(clk), .rst(rst), .start(start), .idle(idle), .in_valid(in_valid), .in_ready(in_ready),",
            "        .in_addr(in_addr), .in_eot(in_eot), .out_valid(out_valid), .out_ready(out_ready),",
            "        .out_addr(out_addr), .out_value(out_value), .out_eot(out_eot), .step_done(step_done),",
            "        .trace_valid(), .trace_layer(), .trace_n(), .trace_s(), .trace_v(), .trace_i(), .trace_x(),",
            "        .trace_sat()", "    );"]
    if readout is None:
        return "\n".join([*head, "    output wire step_done", ");", *body,
                          "endmodule", "`default_nettype wire", ""])
    iw = readout_index_bits(readout)
    ports = ["    output wire step_done,", "    input  wire finish,", "    output wire res_valid,",
             f"    output wire [{iw - 1}:0] res_index,", f"    output wire signed [{READOUT_BITS - 1}:0] res_value,",
             "    output wire res_last,", "    output wire res_busy", ");"]
    return "\n".join([*head, *ports, *body, *readout_instance(plan, readout, "out_valid && out_ready"),
                      "endmodule", "`default_nettype wire", ""])


#: width of a readout score / class word (snncompile.readout.WORD_BITS)
READOUT_BITS = 32
READOUT_MODES = {"counts": 0, "argmax": 1, "max-v": 2}


def readout_index_bits(readout: Readout) -> int:
    """Width of res_index: holds 0..N (the class word is index N)."""
    return bits_for(readout.n + 1)


def readout_instance(plan: Plan, readout: Readout, beat: str) -> list[str]:
    """The snn_readout instance on snn_core's output beats (``beat``: the handshake expression)."""
    port = next(p for p in plan.ports if p.name == readout.output)
    params = [("N", str(readout.n)), ("OFFSET", str(port.offset)), ("AW", str(addr_bits(max(plan.n_out, 1)))),
              ("VW", str(max(p.bits for p in plan.ports))), ("SW", str(READOUT_BITS)),
              ("IW", str(readout_index_bits(readout))), ("MODE", str(READOUT_MODES[readout.mode]))]
    return [f"    // readout '{readout.mode}' of Output node {comment(readout.output)} (snncompile.readout)",
            *_instance("snn_readout", "readout", params, [
                ("clk", "clk"), ("rst", "rst"), ("start", "start && idle"), ("beat", beat), ("eot", "out_eot"),
                ("addr", "out_addr"), ("value", "out_value"), ("finish", "finish"), ("res_valid", "res_valid"),
                ("res_index", "res_index"), ("res_value", "res_value"), ("res_last", "res_last"),
                ("busy", "res_busy")])]

