"""The import passes of snncompile.frontend.nir_passes on graphs that are not valid yet (they run before the Graph
validates edges and shapes)."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest

from snncompile.errors import GraphError
from snncompile.frontend.nir_read import load


@pytest.mark.parametrize("in_shape", [(1, 3), (3,)], ids=["batch-dim-candidate", "plain"])
def test_dangling_edge_from_an_input(tmp_path: Path, in_shape: tuple[int, ...]) -> None:
    """Found by tests/fuzz: an Input of shape (1, ...) with an edge to a missing node made the batch-dim pass index
    the missing node (KeyError) before the Graph could report the edge."""
    nodes = {"input": nir.Input(input_type={"input": np.array(in_shape)}),
             "fc": nir.Linear(weight=np.eye(3)), "output": nir.Output(output_type={"output": np.array([3])})}
    path = tmp_path / "g.nir"
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=[("input", "conv1"), ("input", "fc"), ("fc", "output")],
                                 type_check=False))
    with pytest.raises(GraphError) as err:
        load(path)
    assert str(err.value) == "edge 'input' -> 'conv1': node 'conv1' does not exist"
