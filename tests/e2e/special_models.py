"""TorchScript models with special behaviour for lifecycle tests, built with Debian's
python3-torch. torch.jit.script needs the module source in a real file: this one.

Usage: python3 special_models.py KIND PATH, KIND one of KINDS (flaky, flaky20,
slow_start, hang). Every kind takes "input" FP32 [-1, 4] and answers FP32 [-1, 3]."""
import sys

import torch
from torch import nn


class Flaky(nn.Module):
    """A 4 -> 3 classifier that raises on inputs whose sum exceeds 1000."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.lin = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x.sum() > 1000.0):
            raise RuntimeError("input too large for this model")
        return torch.softmax(self.lin(x), dim=1)


class Flaky20(nn.Module):
    """A 4 -> 3 softmax classifier that fails about 20% of requests, decided by the
    input alone (no state, no randomness), so tests can craft failing and passing
    requests.

    Rule: the call raises RuntimeError("flaky20: injected failure ...") when any row i
    of the batch has frac(x[i, 0] * 1000) < 0.2, where frac(v) = v - floor(v) and the
    product is taken in FP32; otherwise it returns softmax(Linear(4, 3)(x)) (fixed
    weights, seed 7). Only column 0 matters. For uniformly spread x[:, 0] a one-row
    request fails with probability 0.2.
      fails:  x[i, 0] = 0.0, 0.5, 1.0 (1000x exact in FP32), 0.0001 (1000x = 0.1),
              0.2501 (250.1)
      passes: x[i, 0] = 0.0005 (0.5), 0.1234 (123.4), 0.2505 (250.5), 1.2345 (1234.5),
              -0.0005 (-0.5, frac 0.5)
    Keep away from the boundaries: 1000x near a whole number (e.g. 0.003 -> 2.9999998
    or 3.0000002) or near .2 (0.0002 -> 0.2 +- rounding) can go either way; choose
    fractions like 0.05-0.15 to fail and 0.3-0.95 to pass.
    Under dynamic batching one failing row fails the whole batch, so every request
    batched with it fails too; use max batch size 1 to keep the outcome per request.
    """

    def __init__(self):
        super().__init__()
        torch.manual_seed(7)
        self.lin = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x[:, 0] * 1000.0
        frac = v - torch.floor(v)
        if bool((frac < 0.2).any()):
            raise RuntimeError("flaky20: injected failure (frac(1000 * x[i, 0]) < 0.2)")
        return torch.softmax(self.lin(x), dim=1)


class SlowStart(nn.Module):
    """A 4 -> 3 classifier whose first three calls burn about a second each (a cold
    cache, a lazy allocation), then answer at once."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(6)
        self.lin = nn.Linear(4, 3)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls <= 3:
            a = torch.ones(300, 300)
            for _ in range(150):
                a = torch.tanh(a @ a / 300.0)
            x = x + a[0, 0] * 0.0
        return torch.softmax(self.lin(x), dim=1)


class Hang(nn.Module):
    """A 4 -> 3 classifier that hangs (busy-loops, alive, never answering) on inputs
    whose sum exceeds 1000, like a model stuck in a loop; other inputs answer at once.
    For worker-timeout tests: only killing the process ends the loop."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(8)
        self.lin = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spins = 0
        while bool(x.sum() > 1000.0):
            spins += 1
            x = x * 1.0
        return torch.softmax(self.lin(x), dim=1)


KINDS = {"flaky": Flaky, "flaky20": Flaky20, "slow_start": SlowStart, "hang": Hang}


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        print(f"usage: special_models.py {{{','.join(KINDS)}}} PATH", file=sys.stderr)
        sys.exit(2)
    kind, path = sys.argv[1], sys.argv[2]
    module = KINDS[kind]()
    torch.jit.script(module).save(path)
