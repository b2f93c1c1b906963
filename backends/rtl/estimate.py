"""The analytic cost of the RTL (labelled as an estimate; the measured numbers come from the tools).

Cycles of one timestep, from the layer engine's schedule (snn_layer.v, snn_core.v):

    input beats         events_in + 1 (the end-of-timestep beat)
    per layer           4 + sum over edges (1 + spikes_e * (G + 2)) + N + 16   (a count-c event is c spikes)
    outputs             2 per output element + 1 per non-zero output + 2

Memory bits per layer: weights (sum_e M_e * G words of P * WB bits), accumulators (G x P * ACCW),
state (N x (v, i, s, x_prev)), per-neuron parameters, event queues (2 x N addresses).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .memfiles import param_layout
from .plan import Layer, Plan
from .verilog import addr_bits

#: block RAM of one 36 kbit Xilinx RAMB36 (= two ECP5 DP16KD): the unit "BRAM36" of the tables
BRAM36_BITS = 36 * 1024


def layer_cycles(layer: Layer, events: Mapping[str, float]) -> float:
    """Cycles of one layer in one step, given the mean events per step of each source."""
    G = layer.groups
    return 4 + sum(1 + events[e.source] * (G + 2) for e in layer.edges) + layer.n + 16


def step_cycles(plan: Plan, events: Mapping[str, float], outputs_active: float = 0.0) -> float:
    events_in = sum(events[s.name] for s in plan.sources if s.name in plan.graph.inputs)
    return events_in + 1 + sum(layer_cycles(lay, events) for lay in plan.layers) + 2 * plan.n_out \
        + outputs_active + 2


def memory_bits(layer: Layer) -> dict[str, int]:
    _, layout = param_layout(layer)
    words = sum(e.weight.shape[1] for e in layer.edges) * layer.groups
    state = layer.v_bits + layer.i_bits + layer.s_bits + (layer.x_bits if layer.node.semantics.synapse_delay else 0)
    return {
        "weights": words * layer.lanes * layer.w_bits,
        "accumulators": layer.groups * layer.lanes * layer.acc_bits,
        "state": layer.n * state,
        "parameters": layer.n * sum(w for _, w in layout.values()),
        "queue": 2 * layer.n * addr_bits(layer.n) if layer.feeds else 0,
    }


def measured_events(plan: Plan, traces: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, float]:
    """Mean spikes (events weighted by their counts) per step and sample of every source, from bitsim's traces."""
    out = {}
    for s in plan.sources:
        tr = traces[s.name]["out"]
        steps = tr.shape[0] * tr.shape[1]
        out[s.name] = float(tr.sum()) / steps if steps else 0.0
    return out


def estimate(plan: Plan, events: Mapping[str, float], timesteps: int, clock_mhz: float) -> dict[str, Any]:
    """Cycles per step and sample, latency at ``clock_mhz``, memory bits -- all analytic."""
    cycles = step_cycles(plan, events)
    per_layer: list[dict[str, Any]] = []
    for lay in plan.layers:
        mem = memory_bits(lay)
        per_layer.append({"layer": lay.name, "neurons": lay.n, "lanes": lay.lanes, "groups": lay.groups,
                          "cycles_per_step": round(layer_cycles(lay, events), 1), "memory_bits": mem,
                          "widths": {"weight": lay.w_bits, "accumulator": lay.acc_bits, "x": lay.x_bits,
                                     "v": lay.v_bits, "i": lay.i_bits, "datapath": lay.datapath}})
    bits = sum(sum(layer["memory_bits"].values()) for layer in per_layer)
    return {
        "kind": "analytic estimate",
        "events_per_step": {k: round(v, 2) for k, v in events.items()},
        "cycles_per_step": round(cycles, 1),
        "cycles_per_sample": round(cycles * timesteps, 1),
        "timesteps": timesteps,
        "clock_mhz": clock_mhz,
        "us_per_sample": round(cycles * timesteps / clock_mhz, 2),
        "memory_bits": bits,
        "bram36_lower_bound": -(-sum(layer["memory_bits"]["weights"] for layer in per_layer) // BRAM36_BITS),
        "layers": per_layer,
    }
