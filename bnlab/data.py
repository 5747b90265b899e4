"""Data sets in the lecture's layout: X is (n_x, m), Y is one-hot (C, m).

Everything here works offline: the handwritten digits ship inside
scikit-learn, and the synthetic set is generated.
"""

import importlib.util
from pathlib import Path

import numpy as np


def one_hot(labels, num_classes):
    """Labels (m,) of integers in [0, C) -> one-hot Y of shape (C, m)."""
    labels = np.asarray(labels)
    Y = np.zeros((num_classes, labels.size))
    Y[labels, np.arange(labels.size)] = 1
    return Y


def load_digits(test_fraction=0.2, seed=0):
    """The 8x8 handwritten digits (1,797 images, 10 classes), split and standardized.

    The split is stratified by nothing but a seeded permutation; each pixel is
    standardized with the mean and standard deviation of the training set
    (pixels that are constant there are only centred).

    Returns:
    X_train -- (64, m_train); Y_train -- (10, m_train)
    X_test -- (64, m_test); Y_test -- (10, m_test)
    """
    pixels, labels = digit_images()
    X = pixels.T.astype(np.float64)
    return _split_and_standardize(X, one_hot(labels, 10), test_fraction, seed)


# The digits as scikit-learn ships them: one row per image, 64 pixels then the label.
DIGITS_FILE = ("datasets", "data", "digits.csv.gz")


def digit_images():
    """(pixels (1797, 64), labels (1797,)): the digits as scikit-learn's load_digits gives them.

    Read from the file scikit-learn ships, without importing scikit-learn (its import
    takes seconds, the file a few milliseconds: every notebook loads the digits); where
    that file is not found, from scikit-learn's own loader."""
    spec = importlib.util.find_spec("sklearn")
    folders = (spec and spec.submodule_search_locations) or []
    for folder in folders:
        path = Path(folder).joinpath(*DIGITS_FILE)
        if path.is_file():
            table = np.loadtxt(path, delimiter=",")
            return table[:, :-1], table[:, -1].astype(int)
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return digits.data, digits.target


def make_spirals(m=600, num_classes=3, noise=0.2, seed=0, test_fraction=0.2):
    """A small synthetic set: num_classes interleaved spiral arms in 2-D.

    Quick to train on, and not linearly separable, so depth helps.

    Returns:
    X_train -- (2, m_train); Y_train -- (num_classes, m_train); X_test, Y_test likewise
    """
    rng = np.random.default_rng(seed)
    per_class = m // num_classes
    radius = np.tile(np.linspace(0.05, 1.0, per_class), num_classes)
    labels = np.repeat(np.arange(num_classes), per_class)
    angle = 4.0 * radius + labels * 2 * np.pi / num_classes
    angle = angle + noise * rng.standard_normal(angle.shape)
    X = np.vstack([radius * np.sin(angle), radius * np.cos(angle)])
    return _split_and_standardize(X, one_hot(labels, num_classes), test_fraction, seed)


def _split_and_standardize(X, Y, test_fraction, seed):
    m = X.shape[1]
    order = np.random.default_rng(seed).permutation(m)
    m_test = int(round(test_fraction * m))
    test, train = order[:m_test], order[m_test:]
    mean = X[:, train].mean(axis=1, keepdims=True)
    std = X[:, train].std(axis=1, keepdims=True)
    std[std == 0] = 1.0
    X = (X - mean) / std
    return X[:, train], Y[:, train], X[:, test], Y[:, test]
