"""One Batch Norm layer, forward + backward: bnlab against PyTorch, with a copy as the floor.

- bnlab: ``reference.batchnorm_forward`` then ``reference.batchnorm_backward``
  on Z of shape (n_l, m), examples as columns (the lecture's layout).
- PyTorch: ``torch.nn.functional.batch_norm(training=True)`` then autograd
  (``torch.autograd.grad``) for the input, weight and bias, all requiring grad,
  on a contiguous (m, n_l) tensor: examples as rows, PyTorch's own layout.
- floor: ``np.copy(Z)``, one read and one write of Z, the least any layer
  that returns a new (n_l, m) array can cost.

Target: bnlab takes no longer than PyTorch at every size and dtype.
"""

import numpy as np

from bench.timing import side_by_side
from bnlab import reference

SIZES = ((64, 256), (256, 1024), (1024, 4096))  # (n_l, m)
DTYPES = (np.float64, np.float32)
EPS = 1e-5
REPEATS = 15


def make_inputs(n_l, m, dtype, seed=0):
    """Z (n_l, m) with an offset, gamma and beta (n_l, 1) not all ones/zeros, dZ_tilde (n_l, m)."""
    rng = np.random.default_rng(seed)
    Z = (3 * rng.standard_normal((n_l, m)) + 2).astype(dtype)
    gamma = (1 + 0.5 * rng.standard_normal((n_l, 1))).astype(dtype)
    beta = rng.standard_normal((n_l, 1)).astype(dtype)
    dZ_tilde = rng.standard_normal((n_l, m)).astype(dtype)
    return Z, gamma, beta, dZ_tilde


def bnlab_step(Z, gamma, beta, dZ_tilde):
    """Forward + backward with bnlab; returns (Z_tilde, dZ, dgamma, dbeta)."""
    Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta, EPS)
    dZ, dgamma, dbeta = reference.batchnorm_backward(dZ_tilde, cache)
    return Z_tilde, dZ, dgamma, dbeta


def torch_step(torch):
    """A function (x, weight, bias, grad_out) -> (out, dx, dweight, dbias) with PyTorch."""
    import torch.nn.functional as F

    def step(x, weight, bias, grad_out):
        out = F.batch_norm(x, None, None, weight, bias, training=True, eps=EPS)
        dx, dweight, dbias = torch.autograd.grad(out, (x, weight, bias), grad_out)
        return out, dx, dweight, dbias

    return step


def torch_inputs(torch, Z, gamma, beta, dZ_tilde):
    """The same data for PyTorch: (m, n_l) contiguous tensors, (n_l,) weight and bias."""
    x = torch.from_numpy(np.ascontiguousarray(Z.T)).requires_grad_(True)
    weight = torch.from_numpy(gamma[:, 0].copy()).requires_grad_(True)
    bias = torch.from_numpy(beta[:, 0].copy()).requires_grad_(True)
    grad_out = torch.from_numpy(np.ascontiguousarray(dZ_tilde.T))
    return x, weight, bias, grad_out


def max_relative_difference(ours, theirs):
    """Largest |a - b| / max|b| over the pairs (ours in (n_l, .) layout, theirs transposed)."""
    worst = 0.0
    for a, b in zip(ours, theirs):
        b = b.detach().numpy().reshape(a.shape[::-1]).T if b.dim() == 2 else b.detach().numpy()
        a = a.reshape(b.shape)
        worst = max(worst, float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)))
    return worst


def measure(torch, n_l, m, dtype):
    """Timings (seconds per forward + backward) of bnlab, torch and the copy, and their agreement."""
    Z, gamma, beta, dZ_tilde = make_inputs(n_l, m, dtype)
    tensors = torch_inputs(torch, Z, gamma, beta, dZ_tilde)
    step = torch_step(torch)
    difference = max_relative_difference(bnlab_step(Z, gamma, beta, dZ_tilde), step(*tensors))
    timings = side_by_side(
        {
            "bnlab": lambda: bnlab_step(Z, gamma, beta, dZ_tilde),
            "torch": lambda: step(*tensors),
            "copy": lambda: np.copy(Z),
        },
        repeats=REPEATS,
        min_sample_time=0.05,
    )
    return timings, difference


def _percent(ratio):
    return f"{(ratio - 1) * 100:.0f} %"


def run():
    try:
        import torch
    except ImportError:
        return (
            "## BN layer: forward + backward\n\n"
            "PyTorch is not installed: nothing to compare with (`make bench` installs it).\n"
        )

    rows, misses = [], []
    for dtype in DTYPES:
        for n_l, m in SIZES:
            timings, difference = measure(torch, n_l, m, dtype)
            ours, theirs, floor = (timings[k].median for k in ("bnlab", "torch", "copy"))
            ratio = ours / theirs
            met = ratio <= 1.0
            if not met:
                misses.append((np.dtype(dtype).name, n_l, m, ratio, ours / floor, theirs / floor))
            rows.append(
                f"| {np.dtype(dtype).name} | {n_l} x {m} | {ours * 1e6:,.0f} | "
                f"{theirs * 1e6:,.0f} | {floor * 1e6:,.1f} | **{ratio:.2f}** | "
                f"{ours / floor:.1f} | {theirs / floor:.1f} | {difference:.1e} | "
                f"{'yes' if met else 'no'} |"
            )
            spread = max(t.spread for t in timings.values())
            rows[-1] += f" {spread * 100:.0f} % |"

    lines = [
        "## BN layer: forward + backward",
        "",
        "bnlab: `reference.batchnorm_forward` + `reference.batchnorm_backward` on Z of shape "
        "(n_l, m), examples as columns. PyTorch: `torch.nn.functional.batch_norm(training=True)` "
        "+ `torch.autograd.grad` for input, weight and bias (all requiring grad), on a contiguous "
        "(m, n_l) tensor: PyTorch's natural layout, examples as rows, so neither side pays for a "
        "transpose. copy: `np.copy(Z)`, the floor (one read and one write of Z). "
        f"eps = {EPS}. Median of {REPEATS} samples, in microseconds per forward + backward.",
        "",
        "| dtype | n_l x m | bnlab (us) | torch (us) | copy (us) | bnlab / torch | bnlab / copy "
        "| torch / copy | max rel. diff | target met | spread |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|:-:|--:|",
        *rows,
        "",
        "bnlab / copy and torch / copy: each time in units of one copy of Z. max rel. diff: "
        "largest difference between bnlab's and PyTorch's outputs (Z_tilde, dZ, dgamma, dbeta), "
        "relative to the largest PyTorch value: both compute the same thing. spread: the largest "
        "interquartile range of the three, relative to its median.",
        "",
    ]
    if not misses:
        lines.append(
            "**Target: bnlab's BN forward + backward takes no longer than PyTorch's at every "
            "size and dtype -- met.**"
        )
    else:
        worst = max(misses, key=lambda miss: miss[3])
        lines += [
            "**Target: bnlab's BN forward + backward takes no longer than PyTorch's at every "
            f"size and dtype -- not met** at {len(misses)} of {len(SIZES) * len(DTYPES)} "
            f"points; worst: {worst[0]} {worst[1]} x {worst[2]}, where bnlab takes "
            f"{worst[3]:.2f} times PyTorch's time ({_percent(worst[3])} longer).",
            "",
            "Where it is missed, and why:",
            "",
        ]
        for name, n_l, m, ratio, ours_in_copies, theirs_in_copies in misses:
            lines.append(
                f"- {name} {n_l} x {m}: {_percent(ratio)} longer; bnlab costs "
                f"{ours_in_copies:.0f} copies of Z, PyTorch {theirs_in_copies:.0f}."
            )
        lines += ["", WHY]
    return "\n".join(lines) + "\n"


WHY = (
    "Why: bnlab is a sequence of NumPy operations, each a separate pass over an (n_l, m) "
    "array, run on one thread, and each new array it allocates is fresh memory to fault in. "
    "PyTorch's batch norm is one fused kernel per direction that reads and writes each array "
    "about once, on all its intra-op threads. On small layers every NumPy call costs a few "
    "microseconds of fixed overhead, which matters as much as the arithmetic; on large float32 "
    "layers PyTorch's fused, multi-threaded passes win on memory traffic. The forward pass keeps "
    "the lecture's steps (mean, centre, variance, normalize, scale and shift) as separate lines, "
    "because the notebooks teach them and the classic mistakes are defined as edits of them."
)
