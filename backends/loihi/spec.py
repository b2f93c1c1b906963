"""CoreSpec: the hardware limits of one Loihi-style neuromorphic core, as data.

Every number below has a source; numbers that no public source fixes are marked *estimate*.

Loihi 1 (``loihi1``):

    neurons_per_core      1024        Davies et al., "Loihi: a neuromorphic manycore processor with on-chip
                                      learning", IEEE Micro 38(1), 2018: 1,024 compartments per core; nengo-loihi
                                      enforces the same (``MAX_COMPARTMENTS`` in ``nengo_loihi/block.py``)
    input_axons           4096        nengo-loihi ``MAX_IN_AXONS`` (its hardware validation, from NxSDK)
    output_axons          4096        nengo-loihi ``MAX_OUT_AXONS``
    synaptic_memory_bits  1048576     128 KiB per core (Davies 2018: 128 KB synaptic memory per core; nengo-loihi
                                      ``MAX_SYNAPSE_BITS`` = 16384 words x 64 bits)
    cores_per_chip        128         Davies 2018
    synapse cost model                nengo-loihi ``SynapseConfig.bits_per_axon`` (its model of NxSDK's synapse
                                      format): a list of synapses per input axon, stored in blocks of at most 64
                                      synapses; each block costs ``n*bits_per_synapse + 10`` header bits (4 + 6)
                                      rounded up to 64-bit words; dense lists store ``weight_bits`` per synapse,
                                      sparse ones ``weight_bits + index_bits``. weight_bits in {1..6, 8},
                                      index_bits in {6..12} (nengo-loihi ``WEIGHT_BITS_MAP`` / ``INDEX_BITS_MAP``)

Loihi 2 (``loihi2``):

    neurons_per_core      8192        Intel, "Taking Neuromorphic Computing to the Next Level with Loihi 2"
                                      (technology brief, 2021): up to 1 million neurons per chip over 128 cores;
                                      8192 is the per-core maximum for the simplest neuron models
    cores_per_chip        128         same brief
    synaptic_memory_bits  1048576     *estimate*: the brief describes a flexibly partitioned per-core memory shared by
                                      synapses, neuron state and routing tables; we assume 128 KiB of it for
                                      synapses (as on Loihi 1)
    input_axons           8192        *estimate*: no public per-core figure; one input axon per neuron slot
    output_axons          8192        *estimate*: no public per-core figure; one output axon per neuron slot
    synapse cost model                *estimate*: Loihi 1's model, index bits up to 13 (8192 compartments)

A user spec is JSON: any of the fields below, the rest taken from the preset named by ``"base"`` (default
``"loihi1"``). Unknown keys and non-positive numbers raise InputError.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from snncompile.errors import InputError

#: resource name -> CoreSpec field holding its per-core capacity (used by rules, tables and the summary)
CAPACITY_FIELDS = {
    "neurons": "neurons_per_core",
    "input_axons": "input_axons",
    "output_axons": "output_axons",
    "synaptic_memory": "synaptic_memory_bits",
}


@dataclass(frozen=True, kw_only=True)
class CoreSpec:
    """Per-core capacities and the synaptic memory cost model (see the module docstring for sources).

    neurons_per_core, input_axons, output_axons, synaptic_memory_bits, cores_per_chip: ints >= 1.
    max_chips: None (any number of chips; the summary says how many are needed) or int >= 1.
    word_bits, block_synapses, block_header_bits: the block cost model (64, 64, 10 on Loihi 1).
    weight_bits_options, index_bits_options: the stored widths a synapse list may use, ascending.
    max_synaptic_delay: largest extra delay (steps) a synapse can add (recurrent projections use 1).
    """

    name: str = "custom"
    neurons_per_core: int
    input_axons: int
    output_axons: int
    synaptic_memory_bits: int
    cores_per_chip: int
    max_chips: int | None = None
    word_bits: int = 64
    block_synapses: int = 64
    block_header_bits: int = 10
    weight_bits_options: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8)
    index_bits_options: tuple[int, ...] = (6, 7, 8, 9, 10, 11, 12)
    max_synaptic_delay: int = 62
    notes: str = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("name", "notes"):
                if not isinstance(value, str):
                    raise InputError(f"core spec: {f.name} must be a string, got {value!r}")
            elif f.name in ("weight_bits_options", "index_bits_options"):
                opts = tuple(value) if isinstance(value, (list, tuple)) else ()
                if not opts or any(not _is_int(v) or v < 1 for v in opts) or list(opts) != sorted(set(opts)):
                    raise InputError(f"core spec: {f.name} must be a non-empty ascending list of ints >= 1, "
                                     f"got {value!r}")
                object.__setattr__(self, f.name, tuple(int(v) for v in opts))
            elif f.name == "max_chips":
                if value is not None and (not _is_int(value) or value < 1):
                    raise InputError(f"core spec: max_chips must be null or an int >= 1, got {value!r}")
            else:
                lowest = 0 if f.name == "max_synaptic_delay" else 1
                if not _is_int(value) or value < lowest:
                    raise InputError(f"core spec: {f.name} must be an int >= {lowest}, got {value!r}")

    def capacity(self, resource: str) -> int:
        """The per-core capacity of ``resource`` (a key of CAPACITY_FIELDS)."""
        return int(getattr(self, CAPACITY_FIELDS[resource]))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["weight_bits_options"] = list(self.weight_bits_options)
        out["index_bits_options"] = list(self.index_bits_options)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CoreSpec:
        """A spec from JSON data: ``"base"`` names the preset supplying every field not given."""
        data = dict(data)
        base_name = data.pop("base", "loihi1")
        if base_name not in PRESETS:
            raise InputError(f"core spec: base {base_name!r} is not one of {', '.join(sorted(PRESETS))}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"core spec: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        changes = {"name": "custom", "notes": f"user spec based on {base_name}", **data}
        return replace(PRESETS[base_name], **changes)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


LOIHI1 = CoreSpec(
    name="loihi1", neurons_per_core=1024, input_axons=4096, output_axons=4096, synaptic_memory_bits=16384 * 64,
    cores_per_chip=128,
    notes="Davies et al. 2018 (IEEE Micro) and nengo-loihi's hardware validation; cost model from nengo-loihi",
)
LOIHI2 = CoreSpec(
    name="loihi2", neurons_per_core=8192, input_axons=8192, output_axons=8192, synaptic_memory_bits=16384 * 64,
    cores_per_chip=128, index_bits_options=(6, 7, 8, 9, 10, 11, 12, 13),
    notes="Intel Loihi 2 brief (8192 neurons/core, 128 cores/chip); axons, synaptic memory and cost model are "
          "estimates",
)
PRESETS: dict[str, CoreSpec] = {"loihi1": LOIHI1, "loihi2": LOIHI2}


def load_core_spec(spec: str | Path | CoreSpec | Mapping[str, Any]) -> CoreSpec:
    """A CoreSpec from a preset name (loihi1, loihi2), a JSON file path, a dict, or a CoreSpec."""
    if isinstance(spec, CoreSpec):
        return spec
    if isinstance(spec, Mapping):
        return CoreSpec.from_dict(spec)
    if isinstance(spec, str) and spec in PRESETS:
        return PRESETS[spec]
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"core spec {str(spec)!r} is neither a preset ({', '.join(sorted(PRESETS))}) nor a file")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"core spec '{path}': cannot read it as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"core spec '{path}': expected a JSON object, got {type(data).__name__}")
    return CoreSpec.from_dict(data)
