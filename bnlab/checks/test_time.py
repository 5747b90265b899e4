"""Visible checks of notebook 06 (BN at test time)."""

from bnlab.checks._core import run_check
from bnlab.checks._named import names_mistakes

__all__ = [
    "check_update_running_averages",
    "check_batchnorm_forward_inference",
    "check_model_forward_inference",
    "check_fold_batchnorm",
]


@names_mistakes("update_running_averages")
def check_update_running_averages(update_running_averages):
    """Check update_running_averages(running_mean, running_var, mu, var, momentum)."""
    labels = {"output[0]": "running_mean", "output[1]": "running_var"}
    run_check("update_running_averages", update_running_averages, labels)


@names_mistakes("batchnorm_forward_inference")
def check_batchnorm_forward_inference(batchnorm_forward_inference):
    """Check batchnorm_forward_inference(Z, gamma, beta, running_mean, running_var, eps)."""
    labels = {"output": "Z_tilde"}
    run_check("batchnorm_forward_inference", batchnorm_forward_inference, labels)


@names_mistakes("model_forward_inference")
def check_model_forward_inference(model_forward_inference):
    """Check model_forward_inference(X, parameters, running, activation) -> AL."""
    run_check("model_forward_inference", model_forward_inference, {"output": "AL"})


@names_mistakes("fold_batchnorm")
def check_fold_batchnorm(fold_batchnorm):
    """Check fold_batchnorm(W, gamma, beta, running_mean, running_var, eps) -> (W_folded, b_folded)."""
    labels = {"output[0]": "W_folded", "output[1]": "b_folded"}
    run_check("fold_batchnorm", fold_batchnorm, labels)
