"""TorchScript models with special behaviour for lifecycle tests, built with Debian's
python3-torch. torch.jit.script needs the module source in a real file: this one."""
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


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    module = {"flaky": Flaky, "slow_start": SlowStart}[kind]()
    torch.jit.script(module).save(path)
