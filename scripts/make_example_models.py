#!/usr/bin/python3
"""Builds the example models Quiver's tests, benchmarks and docs use.

Usage: python3 scripts/make_example_models.py OUT_DIR

Writes, for every model below, a TorchScript file (.pt) and an ONNX file (.onnx),
plus two JSON files:
  manifest.json   one entry per file: name, version_tag, framework, path (relative to
                  OUT_DIR), inputs/outputs as [{"name", "datatype", "shape"}], seed.
  reference.json  per model version, a fixed input batch and the outputs PyTorch
                  computes for it, so a runtime can be checked without PyTorch.

Runs with Debian's python3-torch (1.13) and python3-onnx. The output is a pure
function of the seeds: the same files come out on every run.

The module classes live here, in a real file, because torch.jit.script reads a
module's source from its file. Other scripts may import this file to rebuild the
same models (build_model(family, seed)).
"""

import json
import os
import sys

import torch
from torch import nn

ONNX_OPSET = 13
REFERENCE_BATCH = 5


class IrisClassifier(nn.Module):
    """4 flower measurements -> probabilities of 3 species (a 4-16-16-3 MLP)."""

    def __init__(self):
        super().__init__()
        self.hidden1 = nn.Linear(4, 16)
        self.hidden2 = nn.Linear(16, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.hidden1(x))
        x = torch.relu(self.hidden2(x))
        return torch.softmax(self.head(x), dim=1)


class Regressor(nn.Module):
    """8 features -> one value (an 8-32-1 MLP)."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(8, 32)
        self.head = nn.Linear(32, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.hidden(x)))


class WideClassifier(nn.Module):
    """32 features -> 10 logits through two 256-wide layers: a compute-heavy model."""

    def __init__(self):
        super().__init__()
        self.hidden1 = nn.Linear(32, 256)
        self.hidden2 = nn.Linear(256, 256)
        self.head = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.hidden1(x))
        x = torch.relu(self.hidden2(x))
        return self.head(x)


# family -> (module class, input name, input width, output name, output width)
FAMILIES = {
    "iris": (IrisClassifier, "input", 4, "probabilities", 3),
    "regressor": (Regressor, "features", 8, "value", 1),
    "wide": (WideClassifier, "input", 32, "logits", 10),
}

# (family, version tag, seed): every version of a family has its own weights.
VERSIONS = [
    ("iris", "v1", 1),
    ("iris", "v2", 2),
    ("regressor", "v1", 1),
    ("regressor", "v2", 2),
    ("wide", "v1", 1),
]


def build_model(family, seed):
    """The model of `family` with the weights that `seed` gives, in eval mode."""
    module_class = FAMILIES[family][0]
    torch.manual_seed(seed)
    model = module_class()
    model.eval()
    return model


def reference_input(family, seed):
    """A fixed input batch for the reference outputs (independent of the weights)."""
    _, _, width, _, _ = FAMILIES[family]
    generator = torch.Generator().manual_seed(1000 + seed)
    return torch.randn(REFERENCE_BATCH, width, generator=generator)


def tensor_specs(family):
    _, in_name, in_width, out_name, out_width = FAMILIES[family]
    inputs = [{"name": in_name, "datatype": "FP32", "shape": [-1, in_width]}]
    outputs = [{"name": out_name, "datatype": "FP32", "shape": [-1, out_width]}]
    return inputs, outputs


def export_torchscript(model, path):
    scripted = torch.jit.script(model)
    scripted.save(path)


def export_onnx(model, family, path):
    _, in_name, in_width, out_name, _ = FAMILIES[family]
    example = torch.zeros(2, in_width)
    torch.onnx.export(
        model,
        (example,),
        path,
        input_names=[in_name],
        output_names=[out_name],
        dynamic_axes={in_name: {0: "batch"}, out_name: {0: "batch"}},
        opset_version=ONNX_OPSET,
        do_constant_folding=True,
    )


def main(argv):
    if len(argv) != 2:
        print("usage: make_example_models.py OUT_DIR", file=sys.stderr)
        return 2
    out_dir = argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)  # bitwise-stable reference outputs

    manifest = []
    reference = {}
    for family, tag, seed in VERSIONS:
        model = build_model(family, seed)
        inputs, outputs = tensor_specs(family)
        for framework, ext in (("torchscript", "pt"), ("onnx", "onnx")):
            file_name = f"{family}_{tag}.{ext}"
            path = os.path.join(out_dir, file_name)
            if framework == "torchscript":
                export_torchscript(model, path)
            else:
                export_onnx(model, family, path)
            manifest.append({
                "name": family,
                "version_tag": tag,
                "framework": framework,
                "path": file_name,
                "inputs": inputs,
                "outputs": outputs,
                "seed": seed,
            })

        x = reference_input(family, seed)
        with torch.no_grad():
            y = model(x)
        reference[f"{family}_{tag}"] = {
            "inputs": [{"name": inputs[0]["name"], "datatype": "FP32",
                        "shape": list(x.shape), "data": x.flatten().tolist()}],
            "outputs": [{"name": outputs[0]["name"], "datatype": "FP32",
                         "shape": list(y.shape), "data": y.flatten().tolist()}],
        }

    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    print(f"wrote {len(manifest)} model files to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
