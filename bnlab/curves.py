"""Plots for the training experiments of notebooks 04-07: curves, sweeps and distributions.

Public. Plain matplotlib; each function draws on the axes you pass (or on new
ones) and returns them, so a notebook cell can combine several panels.
"""

import matplotlib.pyplot as plt
import numpy as np

PERCENTILES = (5, 25, 50, 75, 95)


def _axes(ax, figsize=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def moving_average(values, window):
    """Mean of each run of `window` consecutive values (shorter at the start), same length."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or values.size == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    starts = np.maximum(np.arange(1, values.size + 1) - window, 0)
    return (cumulative[1:] - cumulative[starts]) / (np.arange(1, values.size + 1) - starts)


def plot_learning_curves(histories, key="cost", window=1, ax=None, title=None, log=True):
    """One curve per run: history[key] against the step (or the epoch, for per-epoch keys).

    Arguments:
    histories -- {label: history} as returned by training.train
    key -- "cost" (per step), "epoch_cost", "train_accuracy" or "test_accuracy"
    window -- moving-average window, to smooth the per-step noise of mini-batches
    log -- logarithmic y axis (for costs)
    """
    ax = _axes(ax)
    for label, history in histories.items():
        values = moving_average(history[key], window)
        ax.plot(np.arange(1, values.size + 1), values, label=label)
    ax.set_xlabel("mini-batch step" if key == "cost" else "epoch")
    ax.set_ylabel(key.replace("_", " ") + (f" (mean of {window})" if window > 1 else ""))
    if log:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def plot_sweep(xs, results, xlabel, ylabel, ax=None, title=None, logx=True, logy=False):
    """One line with markers per run: results[label][i] measured at xs[i]."""
    ax = _axes(ax)
    for label, values in results.items():
        ax.plot(xs, values, marker="o", label=label)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def percentiles(values, q=PERCENTILES):
    """The percentiles q of all the entries of `values`, as an array of len(q)."""
    return np.percentile(np.asarray(values, dtype=np.float64), q)


def plot_percentile_bands(steps, bands, ax=None, title=None, color="C0", label=None):
    """A distribution over training: the median line and the 25-75 and 5-95 bands.

    Arguments:
    steps -- (T,) step numbers
    bands -- (T, 5) percentiles 5, 25, 50, 75, 95 at each step (see `percentiles`)
    """
    ax = _axes(ax)
    bands = np.asarray(bands)
    ax.fill_between(steps, bands[:, 0], bands[:, 4], color=color, alpha=0.15)
    ax.fill_between(steps, bands[:, 1], bands[:, 3], color=color, alpha=0.3)
    ax.plot(steps, bands[:, 2], color=color, label=label)
    ax.set_xlabel("mini-batch step")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return ax
