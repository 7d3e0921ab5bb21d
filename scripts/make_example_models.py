#!/usr/bin/python3
"""Builds the example models Quiver's tests, benchmarks and docs use.

Usage: python3 scripts/make_example_models.py OUT_DIR

Writes, for every model below, a TorchScript file (.pt) and an ONNX file (.onnx),
plus two JSON files:
  manifest.json   one entry per file: name, version_tag, framework, path (relative to
                  OUT_DIR), inputs/outputs as [{"name", "datatype", "shape"}], seed;
                  iris entries also carry holdout_accuracy (see below).
  reference.json  per model version, a fixed input batch and the outputs PyTorch
                  computes for it, so a runtime can be checked without PyTorch.

The iris models are trained on the real iris data (examples/data/iris.csv, 150 rows):
a fixed stratified split keeps 15 rows of each species (45 in all) out of training;
those rows are written to OUT_DIR/iris_holdout.csv and to
examples/data/iris_holdout.csv (the committed copy; rewritten only if it differs).
  iris v1  all four measurements            held-out accuracy ~0.98
  iris v2  the sepal measurements only      held-out accuracy ~0.76
           (the petal inputs are multiplied by zero inside the model, like a
           feature pipeline that lost two columns)
Both take the raw measurements in cm: the standardisation learned on the training
rows is folded into the first layer, so the exported graph is the plain
4-16-16-3 MLP with a softmax. The regressor and wide models keep their seeded
random weights.

Runs with Debian's python3-torch (1.13) and python3-onnx. The output is a pure
function of the seeds and the data: the same weights and reference outputs come out
on every run (training runs on one thread, in a fixed order).

The module classes live here, in a real file, because torch.jit.script reads a
module's source from its file. Other scripts may import this file to rebuild the
same models (build_model(family, seed)).
"""

import json
import os
import random
import sys

import torch
from torch import nn

ONNX_OPSET = 13
REFERENCE_BATCH = 5

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IRIS_DATA = os.path.join(REPO_ROOT, "examples", "data", "iris.csv")
IRIS_HOLDOUT = os.path.join(REPO_ROOT, "examples", "data", "iris_holdout.csv")
IRIS_HOLDOUT_NAME = "iris_holdout.csv"
IRIS_SPLIT_SEED = 0        # which rows are held out (random.Random, per species)
IRIS_HOLDOUT_PER_CLASS = 15  # 3 x 15 = 45 held out, 3 x 35 = 105 for training
IRIS_EPOCHS = 200          # full-batch Adam steps
IRIS_LEARNING_RATE = 0.01
IRIS_WEIGHT_DECAY = 0.01
# Which inputs each iris version sees (sepal length, sepal width, petal length,
# petal width), by seed; a seed not listed sees all four.
IRIS_FEATURES = {
    1: (1.0, 1.0, 1.0, 1.0),  # v1: every measurement
    2: (1.0, 1.0, 0.0, 0.0),  # v2: the sepals only, so it confuses versicolor/virginica
}
ALL_IRIS_FEATURES = (1.0, 1.0, 1.0, 1.0)


class IrisClassifier(nn.Module):
    """4 flower measurements (cm) -> probabilities of 3 species (a 4-16-16-3 MLP);
    build_model("iris", seed) trains it on the iris data (train_iris)."""

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


def read_iris():
    """(header line, data lines, features FP32 [150, 4], species int64 [150]) from
    examples/data/iris.csv; the lines are kept verbatim for the held-out file."""
    with open(IRIS_DATA, newline="") as f:
        lines = [line.rstrip("\r\n") for line in f if line.strip()]
    header, data = lines[0], lines[1:]
    if header != "sepal_length,sepal_width,petal_length,petal_width,species":
        raise ValueError(f"{IRIS_DATA}: unexpected header {header!r}")
    fields = [line.split(",") for line in data]
    x = torch.tensor([[float(v) for v in row[:4]] for row in fields], dtype=torch.float32)
    y = torch.tensor([int(row[4]) for row in fields], dtype=torch.int64)
    return header, data, x, y


def iris_split(y):
    """(train row indices, held-out row indices), both in file order: for each species,
    a seeded shuffle of its rows; the first IRIS_HOLDOUT_PER_CLASS are held out."""
    rng = random.Random(IRIS_SPLIT_SEED)
    train, holdout = [], []
    labels = y.tolist()
    for species in sorted(set(labels)):
        rows = [i for i, label in enumerate(labels) if label == species]
        rng.shuffle(rows)
        holdout += rows[:IRIS_HOLDOUT_PER_CLASS]
        train += rows[IRIS_HOLDOUT_PER_CLASS:]
    return sorted(train), sorted(holdout)


def iris_holdout_text():
    """The held-out rows as CSV text, with iris.csv's header and lines."""
    header, data, _, y = read_iris()
    _, holdout = iris_split(y)
    return "\n".join([header] + [data[i] for i in holdout]) + "\n"


def train_iris(seed):
    """An IrisClassifier trained on the training rows (eval mode) that takes the raw
    measurements: the standardisation and the feature mask are folded into hidden1."""
    _, _, x, y = read_iris()
    train, _ = iris_split(y)
    x_train, y_train = x[train], y[train]
    mean = x_train.mean(dim=0)
    std = x_train.std(dim=0)
    mask = torch.tensor(IRIS_FEATURES.get(seed, ALL_IRIS_FEATURES), dtype=torch.float32)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same sums in the same order every run
    try:
        torch.manual_seed(seed)
        model = IrisClassifier()
        # Train on logits of standardised, masked inputs (softmax + NLL = cross entropy).
        z_train = (x_train - mean) / std * mask
        optimizer = torch.optim.Adam(model.parameters(), lr=IRIS_LEARNING_RATE,
                                     weight_decay=IRIS_WEIGHT_DECAY)
        model.train()
        for _ in range(IRIS_EPOCHS):
            optimizer.zero_grad()
            h = torch.relu(model.hidden2(torch.relu(model.hidden1(z_train))))
            loss = nn.functional.cross_entropy(model.head(h), y_train)
            loss.backward()
            optimizer.step()
        # hidden1((x - mean) / std * mask) == hidden1'(x) with
        # W' = W * (mask / std) and b' = b - W' @ mean.
        with torch.no_grad():
            scale = mask / std
            weight = model.hidden1.weight * scale
            model.hidden1.bias.copy_(model.hidden1.bias - weight @ mean)
            model.hidden1.weight.copy_(weight)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return model


def iris_holdout_accuracy(model):
    """Share of the held-out rows whose arg-max class is the true species."""
    _, _, x, y = read_iris()
    _, holdout = iris_split(y)
    with torch.no_grad():
        predicted = model(x[holdout]).argmax(dim=1)
    return float((predicted == y[holdout]).to(torch.float64).mean())


def build_model(family, seed):
    """The model of `family` for `seed`, in eval mode: for iris, trained on the iris
    training rows (IRIS_FEATURES says which inputs it sees); otherwise the seeded
    random weights."""
    if family == "iris":
        return train_iris(seed)
    module_class = FAMILIES[family][0]
    torch.manual_seed(seed)
    model = module_class()
    model.eval()
    return model


def write_if_changed(path, text):
    """Writes `text` to `path` atomically unless it already holds it; False (and a
    warning) where the folder cannot be written, e.g. a read-only checkout."""
    try:
        with open(path, newline="") as f:
            if f.read() == text:
                return True
    except OSError:
        pass
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
        return True
    except OSError as e:
        print(f"warning: cannot write {path}: {e}", file=sys.stderr)
        try:
            os.remove(tmp)
        except OSError:
            pass
        return False


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

    holdout_text = iris_holdout_text()
    write_if_changed(os.path.join(out_dir, IRIS_HOLDOUT_NAME), holdout_text)
    write_if_changed(IRIS_HOLDOUT, holdout_text)

    manifest = []
    reference = {}
    for family, tag, seed in VERSIONS:
        model = build_model(family, seed)
        inputs, outputs = tensor_specs(family)
        extra = {}
        if family == "iris":
            extra["holdout_accuracy"] = round(iris_holdout_accuracy(model), 6)
            print(f"{family} {tag}: held-out accuracy {extra['holdout_accuracy']:.4f}")
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
                **extra,
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
