"""Figures for the notebooks: where Batch Norm sits, its computation graph, distributions.

Also the views inside a training run of notebook 04: each hidden layer's A[l]
and dA[l] at a few steps, and each layer's update-to-data ratio per step.

Public. Plain matplotlib; every function draws into a new figure (or the axes
you pass) and returns the figure, so a notebook can show it or save it.
"""

import matplotlib.pyplot as plt
import numpy as np

BOX = {"boxstyle": "round,pad=0.35", "linewidth": 1.2}
COLORS = {
    "input": "#e8eef7",
    "linear": "#dbe9f6",
    "bn": "#fde7c8",
    "activation": "#dff2df",
    "param": "#f3e0f0",
    "output": "#eeeeee",
}


def _node(ax, xy, text, kind, fontsize=12):
    return ax.text(
        *xy,
        text,
        ha="center",
        va="center",
        fontsize=fontsize,
        bbox={**BOX, "facecolor": COLORS[kind], "edgecolor": "#555555"},
        zorder=3,
    )


def _arrow(ax, start, end, label=None, color="#333333", label_offset=0.22):
    """An arrow from node `start` to node `end` (text artists), clipped at their boxes."""
    ax.annotate(
        "",
        xy=end.get_position(),
        xytext=start.get_position(),
        arrowprops={
            "arrowstyle": "-|>",
            "color": color,
            "lw": 1.3,
            "patchA": start.get_bbox_patch(),
            "patchB": end.get_bbox_patch(),
            "shrinkA": 2,
            "shrinkB": 2,
        },
        zorder=2,
    )
    if label:
        (x0, y0), (x1, y1) = start.get_position(), end.get_position()
        ax.text(
            (x0 + x1) / 2,
            (y0 + y1) / 2 + label_offset,
            label,
            ha="center",
            va="bottom",
            fontsize=10,
            color="#444444",
        )


def _blank_axes(ax, figsize, xlim, ylim):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axis("off")
    return fig, ax


def network_diagram(num_hidden=2, ax=None):
    """The forward pass with Batch Norm between Z and A in every hidden layer.

    X -> Z[1] -> Z_tilde[1] -> A[1] -> Z[2] -> ... -> softmax output, with the
    parameters that govern each step written over its arrow.
    """
    steps = [("$X$", "input")]
    edges = []
    for l in range(1, num_hidden + 1):
        steps += [(f"$Z^{{[{l}]}}$", "linear"), (rf"$\tilde Z^{{[{l}]}}$", "bn")]
        steps += [(f"$A^{{[{l}]}}$", "activation")]
        edges += [f"$W^{{[{l}]}}$", rf"BN: $\gamma^{{[{l}]}}, \beta^{{[{l}]}}$", f"$g^{{[{l}]}}$"]
    L = num_hidden + 1
    steps += [(f"$Z^{{[{L}]}}$", "linear"), (r"$\hat Y$", "output")]
    edges += [f"$W^{{[{L}]}}, b^{{[{L}]}}$", "softmax"]
    fig, ax = _blank_axes(ax, (1.35 * len(steps), 2.0), (-0.6, len(steps) - 0.4), (-0.8, 1.0))
    nodes = [_node(ax, (i, 0), text, kind, fontsize=13) for i, (text, kind) in enumerate(steps)]
    for i, label in enumerate(edges):
        color = "#c77c00" if label.startswith("BN") else "#333333"
        _arrow(ax, nodes[i], nodes[i + 1], label, color=color)
    ax.text(
        (len(steps) - 1) / 2,
        -0.7,
        "Batch Norm sits between Z and A in every hidden layer; the output layer has none.",
        ha="center",
        fontsize=10,
        color="#555555",
    )
    fig.tight_layout()
    return fig


# Positions of the nodes of Batch Norm's computation graph.
_GRAPH = {
    "Z": (0.0, 1.0),
    "mu": (1.7, 2.3),
    "Z_centered": (3.4, 1.0),
    "var": (5.0, 2.3),
    "inv_std": (7.0, 2.3),
    "Z_norm": (7.6, 1.0),
    "gamma": (9.2, 2.3),
    "beta": (11.0, 2.3),
    "Z_tilde": (10.4, 1.0),
}
_GRAPH_TEXT = {
    "Z": "$Z$",
    "mu": r"$\mu = \frac{1}{m}\sum_i Z^{(i)}$",
    "Z_centered": r"$Z_c = Z - \mu$",
    "var": r"$\sigma^2 = \frac{1}{m}\sum_i (Z_c^{(i)})^2$",
    "inv_std": r"$s = \frac{1}{\sqrt{\sigma^2 + \varepsilon}}$",
    "Z_norm": r"$Z_{norm} = Z_c \, s$",
    "gamma": r"$\gamma$",
    "beta": r"$\beta$",
    "Z_tilde": r"$\tilde Z = \gamma Z_{norm} + \beta$",
}
_GRAPH_KIND = {"Z": "input", "gamma": "param", "beta": "param", "Z_tilde": "output"}
_GRAPH_EDGES = [
    ("Z", "mu"),
    ("Z", "Z_centered"),
    ("mu", "Z_centered"),
    ("Z_centered", "var"),
    ("Z_centered", "Z_norm"),
    ("var", "inv_std"),
    ("inv_std", "Z_norm"),
    ("Z_norm", "Z_tilde"),
    ("gamma", "Z_tilde"),
    ("beta", "Z_tilde"),
]


def bn_graph(ax=None):
    """Batch Norm's computation graph, node by node, for one unit (one row of Z).

    The two values that feed two nodes each -- Z (into mu and Z_c) and Z_c
    (into var and Z_norm) -- and their outgoing edges are drawn in orange: on
    the way back, their two gradients add up.
    """
    fig, ax = _blank_axes(ax, (12, 3.2), (-0.6, 12.0), (0.0, 2.9))
    forks = {"Z", "Z_centered"}
    nodes = {}
    for name, xy in _GRAPH.items():
        kind = "bn" if name in forks else _GRAPH_KIND.get(name, "linear")
        nodes[name] = _node(ax, xy, _GRAPH_TEXT[name], kind, fontsize=12)
    for start, end in _GRAPH_EDGES:
        color = "#c77c00" if start in forks else "#333333"
        _arrow(ax, nodes[start], nodes[end], color=color)
    ax.text(
        5.7,
        0.15,
        "Forward: left to right.  Backward: right to left; "
        "Z and $Z_c$ (orange) each feed two nodes, so their gradients are sums of two paths.",
        ha="center",
        fontsize=10,
        color="#555555",
    )
    fig.tight_layout()
    return fig


def _grid(ax, x0, y0, rows, cols, color="white", size=0.5):
    """A rows x cols grid of square cells, its top-left corner at (x0, y0)."""
    for r in range(rows):
        for c in range(cols):
            ax.add_patch(
                plt.Rectangle(
                    (x0 + c * size, y0 - (r + 1) * size),
                    size,
                    size,
                    facecolor=color(r, c) if callable(color) else color,
                    edgecolor="#555555",
                    linewidth=1,
                )
            )


def normalization_axes(kinds=("batch", "layer"), n_units=4, m=6):
    """Which entries of Z (n_l x m) share a mean and a variance, for Batch Norm and Layer Norm.

    One panel per kind. Rows are units, columns are examples. Batch Norm: one mu and
    one var per row, over the m examples of the mini-batch, shape (n_l, 1). Layer Norm:
    one per column, over the n_l units of one example, shape (1, m). In both, gamma
    and beta are one per row, shape (n_l, 1).
    """
    fig, axes = plt.subplots(1, len(kinds), figsize=(6.2 * len(kinds), 4.4), squeeze=False)
    size, shades = 0.5, plt.cm.Pastel1.colors
    for ax, kind in zip(axes[0], kinds):
        batch = kind == "batch"
        _blank_axes(ax, None, (-2.1, m * size + 1.9), (-n_units * size - 1.8, 1.3))
        _grid(
            ax,
            0,
            0,
            n_units,
            m,
            lambda r, c, batch=batch: shades[(r if batch else c) % len(shades)],
            size,
        )
        ax.text(m * size / 2, 0.2, "m examples (columns)", ha="center", fontsize=10)
        ax.text(
            -0.15, -n_units * size / 2, "$n_l$ units\n(rows)", ha="right", va="center", fontsize=10
        )
        # gamma and beta: one per row, whatever the kind.
        _grid(ax, -1.55, 0, n_units, 1, "#f3e0f0", size)
        ax.text(-1.3, 0.2, r"$\gamma, \beta$", ha="center", fontsize=10)
        if batch:
            _grid(ax, m * size + 0.4, 0, n_units, 1, lambda r, c: shades[r % len(shades)], size)
            ax.text(m * size + 0.65, 0.2, r"$\mu, \sigma^2$", ha="center", fontsize=10)
            note = r"$\mu, \sigma^2$: one per row (unit), over the m examples: $(n_l, 1)$"
        else:
            _grid(ax, 0, -n_units * size - 0.3, 1, m, lambda r, c: shades[c % len(shades)], size)
            ax.text(
                -0.15,
                -n_units * size - 0.55,
                r"$\mu, \sigma^2$",
                ha="right",
                va="center",
                fontsize=10,
            )
            note = r"$\mu, \sigma^2$: one per column (example), over the $n_l$ units: $(1, m)$"
        title = "Batch Norm" if batch else "Layer Norm"
        ax.set_title(title, fontsize=13)
        ax.text(m * size / 2, -n_units * size - 1.2, note, ha="center", fontsize=10)
        ax.text(
            m * size / 2,
            -n_units * size - 1.6,
            r"$\gamma, \beta$: one per row, $(n_l, 1)$",
            ha="center",
            fontsize=10,
            color="#555555",
        )
    fig.tight_layout()
    return fig


def mini_batch_partition(m=10, mini_batch_size=4, num_classes=3, seed=0):
    """How a training set of m columns is shuffled and cut into mini-batches.

    Top: the columns of X (and of Y below them, coloured by class) in their order.
    Middle: the same columns after one permutation, shared by X and Y, so every
    example keeps its label. Bottom: consecutive blocks of mini_batch_size columns;
    the last block holds what is left over.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(m) % num_classes
    order = rng.permutation(m)
    colors = plt.cm.Pastel2.colors
    fig, ax = _blank_axes(None, (1.0 + 0.75 * m, 4.6), (-2.2, m * 0.6 + 0.6), (-5.9, 0.9))
    rows = [("X, Y as given", np.arange(m), 0.0), ("one permutation\nfor X and Y", order, -2.2)]
    for title, columns, y in rows:
        ax.text(-0.25, y - 0.5, title, ha="right", va="center", fontsize=10)
        for position, example in enumerate(columns):
            x = position * 0.6
            for dy, text in [(0.0, f"$X^{{({example})}}$"), (-0.6, f"$y={labels[example]}$")]:
                ax.add_patch(
                    plt.Rectangle(
                        (x, y + dy - 0.6),
                        0.55,
                        0.55,
                        facecolor=colors[labels[example] % len(colors)],
                        edgecolor="#555555",
                    )
                )
                ax.text(x + 0.275, y + dy - 0.325, text, ha="center", va="center", fontsize=8)
    y = -4.4
    ax.text(-0.25, y - 0.3, "mini-batches", ha="right", va="center", fontsize=10)
    for t, start in enumerate(range(0, m, mini_batch_size), start=1):
        stop = min(start + mini_batch_size, m)
        x0, x1 = start * 0.6, stop * 0.6 - 0.05
        ax.add_patch(
            plt.Rectangle(
                (x0, y - 0.75), x1 - x0, 0.95, fill=False, edgecolor="#c77c00", linewidth=2
            )
        )
        ax.text(
            (x0 + x1) / 2,
            y - 0.3,
            f"$X^{{\\{{{t}\\}}}}, Y^{{\\{{{t}\\}}}}$\n{stop - start} examples",
            ha="center",
            va="center",
            fontsize=9,
        )
    ax.text(
        m * 0.3,
        -5.6,
        f"m = {m}, mini_batch_size = {mini_batch_size}: the last mini-batch is "
        "smaller, not dropped",
        ha="center",
        fontsize=9,
        color="#555555",
    )
    fig.tight_layout()
    return fig


def conv_channels(m=3, channels=3, size=4):
    """Batch Norm in a convolutional layer: one set of statistics per channel.

    Each example is a stack of `channels` feature maps of size x size positions.
    The entries of one channel (the front one, coloured), at every position of
    every example of the mini-batch, share one mu, one var, one gamma and one beta.
    """
    fig, ax = _blank_axes(None, (2.2 + 3.2 * m, 4.2), (-0.8, 3.4 * m), (-1.6, 3.4))
    ax.set_aspect("equal")
    cell, step = 0.55, 0.35  # a position's size; the offset between stacked channels
    for i in range(m):
        x0 = 3.4 * i
        for c in reversed(range(channels)):
            color = "#fde7c8" if c == 0 else "white"
            for r in range(size):
                for k in range(size):
                    ax.add_patch(
                        plt.Rectangle(
                            (x0 + c * step + k * cell, c * step + r * cell),
                            cell,
                            cell,
                            facecolor=color,
                            edgecolor="#c77c00" if c == 0 else "#888888",
                            linewidth=0.8,
                        )
                    )
        ax.text(x0 + 1.3, -0.45, f"example {i + 1}: {channels} channels", ha="center", fontsize=10)
    ax.text(
        1.7 * m - 0.3,
        -1.2,
        "Channel 1 (orange), at every position of every example of the mini-batch: "
        r"one $\mu$, $\sigma^2$, $\gamma$, $\beta$ for all of it",
        ha="center",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _range(arrays, lo=0.5, hi=99.5):
    values = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    low, high = np.percentile(values, [lo, hi])
    pad = 0.05 * (high - low) + 1e-9
    return low - pad, high + pad


def histograms_before_after(before, after, units=(0, 1, 2), titles=("Z", r"$\tilde Z$")):
    """Histograms of a few units (rows) of `before` and `after`, side by side.

    before, after -- (n_l, m) arrays, e.g. Z and Z_tilde of one layer
    units -- which rows to draw, one colour each
    The x-range of each panel covers all but the 0.5 % most extreme values.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    for ax, values, title in zip(axes, (before, after), titles):
        rows = [np.asarray(values[unit], dtype=np.float64) for unit in units]
        bins = np.linspace(*_range(rows), 50)
        for unit, row in zip(units, rows):
            ax.hist(row, bins=bins, alpha=0.55, label=f"unit {unit + 1}")
        ax.set_xlim(bins[0], bins[-1])
        ax.set_title(title)
        ax.set_xlabel("value")
        ax.legend(fontsize=9)
    axes[0].set_ylabel("number of examples")
    fig.tight_layout()
    return fig


def layer_distributions(named_rows, xlabel="value"):
    """One panel per layer with the distributions of one or more networks' values.

    named_rows -- list of (panel title, {curve label: array of values})
    All panels share one x-range (that of the widest panel, trimmed of the
    1 % most extreme values), so growing or shrinking spreads are visible.
    """
    fig, axes = plt.subplots(1, len(named_rows), figsize=(3.3 * len(named_rows), 3.0))
    axes = np.atleast_1d(axes)
    ranges = [_range(curves.values(), 1, 99) for _, curves in named_rows]
    low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
    bins = np.linspace(low, high, 60)
    for ax, (title, curves) in zip(axes, named_rows):
        for label, values in curves.items():
            values = np.asarray(values, dtype=np.float64).ravel()
            ax.hist(np.clip(values, low, high), bins=bins, alpha=0.55, density=True, label=label)
        ax.set_xlim(low, high)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_yticks([])
    axes[0].legend(fontsize=9)
    fig.tight_layout()
    return fig


def layer_histograms(runs, symbol="A[{l}]", log=False):
    """Histograms of every hidden layer's values at a few steps of training, for one or more runs.

    Arguments:
    runs -- {run label: {step: [V1, ..., V_{L-1}]}}, V_l the values of hidden layer l
            at that step, e.g. A[l] or dA[l] of one mini-batch, an (n_l, m) array
            (or any array: its entries are what count)
    symbol -- the panel titles, with {l} for the layer: "A[{l}]" gives A[1], A[2], ...
    log -- logarithmic y axis (to see the tails)

    One row of panels per run, one column per hidden layer; in each panel one
    line per step, a histogram drawn as a line (a density: the area under it
    is 1), later steps darker. All panels share one x-range, that of all the
    values trimmed of the 1 % most extreme (values beyond it are counted in the
    outermost bins), so the runs and the layers can be compared at a glance.
    Returns the figure.
    """
    labels = list(runs)
    steps = sorted(runs[labels[0]])
    num_layers = len(runs[labels[0]][steps[0]])
    fig, axes = plt.subplots(
        len(labels),
        num_layers,
        figsize=(3.6 * num_layers, 2.6 * len(labels)),
        sharex=True,
        squeeze=False,
    )
    every = [v for run in runs.values() for layers in run.values() for v in layers]
    every = [v for v in every if np.size(v)] or [np.zeros(1)]
    bins = np.linspace(*_range(every, 0.5, 99.5), 61)
    centers = (bins[:-1] + bins[1:]) / 2
    colors = plt.cm.viridis_r(np.linspace(0.25, 1.0, len(steps)))
    for row, label in zip(axes, labels):
        for l, ax in enumerate(row, start=1):
            for step, color in zip(steps, colors):
                values = np.asarray(runs[label][step][l - 1], dtype=np.float64).ravel()
                if values.size == 0:
                    continue
                clipped = np.clip(values, bins[0], bins[-1])
                density, _ = np.histogram(clipped, bins=bins, density=True)
                ax.plot(centers, density, color=color, label=f"step {step}")
            ax.set_title(f"{label}: " + symbol.format(l=l))
            ax.set_xlim(bins[0], bins[-1])
            if log:
                ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
        row[0].set_ylabel("density")
    for ax in axes[-1]:
        ax.set_xlabel("value")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def update_ratios(ratios, steps=None, guide=-3.0, title=None, ax=None):
    """The update-to-data ratio of every layer's W[l], step by step.

    Arguments:
    ratios -- {l: (T,) values of log10(std(step of W[l]) / std(W[l]))}, one line per
              layer l (training.layer_recorder records them)
    steps -- (T,) step numbers (1, ..., T if None)
    guide -- height of the dashed guide line (a common rule of thumb: about -3);
             None for no guide
    title -- panel title
    ax -- axes to draw on (new ones if None)

    Returns the figure.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.6))
    fig = ax.figure
    for l, values in sorted(ratios.items()):
        values = np.asarray(values, dtype=np.float64)
        x = np.arange(1, values.size + 1) if steps is None else np.asarray(steps)
        ax.plot(x, values, lw=1, label=f"W[{l}]")
    if guide is not None:
        ax.axhline(guide, color="k", ls="--", lw=1, label=f"{guide:g}")
    ax.set_xlabel("mini-batch step")
    ax.set_ylabel("log10( std(step) / std(W) )")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig
