#!/bin/sh
# Generates ONNX's backend conformance cases (model.onnx + test_data_set_N/{input,output}_K.pb)
# from Debian's python3-onnx into DIR. Same logic as shared/tools/onnx-node-tests, kept here so a
# clean clone needs nothing outside the repository.
set -eu
out=${1:?usage: gen_onnx_cases.sh DIR}
if [ -f "$out/.complete" ]; then exit 0; fi
rm -rf "$out"
/usr/bin/python3 - "$out" <<'PY'
import sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
# onnx 1.12's case generators still use aliases that numpy 1.24 removed
for name, value in (("float", float), ("int", int), ("bool", bool), ("object", object)):
    if not hasattr(np, name):
        setattr(np, name, value)
from onnx.backend.test import cmd_tools
sys.argv = ["onnx-node-tests", "generate-data", "-o", sys.argv[1]]
cmd_tools.main()
PY
touch "$out/.complete"
