"""ONNX files with problems, for the CLI error tests (committed; regenerate with
/usr/bin/python3 tests/data/make_bad_models.py). Needs only python3-onnx and numpy."""
import os
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def save(graph, name, opset=13):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="tern-tests")
    onnx.save(m, os.path.join(HERE, name))


# Two unsupported ops: the error must list both nodes.
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
idx = numpy_helper.from_array(np.zeros((2, 3), np.int64), "idx")
save(helper.make_graph([
    helper.make_node("GatherElements", ["x", "idx"], ["g"], name="pick", axis=1),
    helper.make_node("Relu", ["g"], ["r"], name="relu"),
    helper.make_node("Hardmax", ["r"], ["y"], name="hard"),
], "unsupported", [x], [y], [idx]), "unsupported_ops.onnx")

# A shape error deep in the graph: MatMul with mismatched inner dims.
a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [4, 5])
o = helper.make_tensor_value_info("o", TensorProto.FLOAT, [4, 7])
w = numpy_helper.from_array(np.ones((6, 7), np.float32), "w")
save(helper.make_graph([helper.make_node("MatMul", ["a", "w"], ["o"], name="proj")], "bad_shapes", [a], [o], [w]),
     "bad_matmul.onnx")
print("wrote unsupported_ops.onnx, bad_matmul.onnx")
