"""xylo: SynSense Xylo Audio 2 (SYNS61201) -- Rockpool specifications that XyloSim runs (docs/xylo.md)."""
