"""The output layer in closed form: ridge least squares of the targets on what the layer reads.

A network's last layer is linear in its weights, so given the hidden features H (rows x m, with a ones column
for the bias) the best weights solve (H^T H + lambda I) W = H^T Y (variable projection's inner problem; Newman et
al., "Train like a (Var)Pro", SIMODS 2021). The trainer solves it once, after the gradient steps: one
no-gradient pass accumulates H^T H and H^T Y chunk by chunk (bounded memory), in float64 on the model's device
(float32 on MPS, which has no float64), and torch.linalg solves the small m x m system there too.

A model the trainer can solve so says `readout_trainable`, gives what its output layers read as `readout_features`
(rows x m) and takes the solution back with `set_readout`: a plain network's H is its last hidden layer; a
partitioned one's (Local-Global, per part) is the global network's beside every local network's, each row's local
block in its part's columns (its output is linear in all those output layers together).
"""

from __future__ import annotations

import torch

READOUT_RIDGE = 1e-10  # lambda relative to the mean diagonal of H^T H: only guards a rank-deficient H (dead units)


def solve_dtype(device: torch.device) -> torch.dtype:
    """float64 wherever the device has it (the normal equations square the condition number)."""
    return torch.float32 if device.type == "mps" else torch.float64


def ridge_solve(gram: torch.Tensor, moment: torch.Tensor, ridge: float = READOUT_RIDGE) -> torch.Tensor:
    """W (m, c) minimising ||H W - Y||^2 + lambda ||W||^2 from gram = H^T H (m, m) and moment = H^T Y (m, c)."""
    m = gram.shape[0]
    lam = ridge * torch.trace(gram) / m
    eye = torch.eye(m, dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(gram + lam * eye, moment)


class NormalEquations:
    """H^T H, H^T Y and Y^T Y accumulated over chunks of rows, then solved for the output layer."""

    def __init__(self, m: int, c: int, device: torch.device):
        self.dtype = solve_dtype(device)
        self.gram = torch.zeros(m + 1, m + 1, dtype=self.dtype, device=device)
        self.moment = torch.zeros(m + 1, c, dtype=self.dtype, device=device)
        self.y_squares = torch.zeros(c, dtype=self.dtype, device=device)
        self.rows = 0

    def add(self, hidden: torch.Tensor, y: torch.Tensor) -> None:
        h = torch.cat([hidden.to(self.dtype), torch.ones(len(hidden), 1, dtype=self.dtype, device=hidden.device)], dim=1)
        y = y.to(self.dtype)
        self.gram += h.T @ h
        self.moment += h.T @ y
        self.y_squares += (y * y).sum(dim=0)
        self.rows += len(h)

    @torch.no_grad()
    def solve(self) -> tuple[torch.Tensor, float]:
        """The least-squares weights (m + 1, c), the bias last (what a model's `set_readout` takes), and the mean
        squared error they leave (||H w - y||^2 = w^T G w - 2 w^T r + y^T y per output: no second pass)."""
        w = ridge_solve(self.gram, self.moment)
        squares = (w * (self.gram @ w)).sum(dim=0) - 2 * (w * self.moment).sum(dim=0) + self.y_squares
        return w, float(squares.sum().clamp_min(0)) / (self.rows * len(self.y_squares))
