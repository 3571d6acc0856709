"""L2-regularised logistic regression by L-BFGS, with scikit-learn's objective.

scikit-learn 1.9's LogisticRegression (lbfgs solver, sklearn/linear_model/_logistic.py and
_linear_loss.py) minimises, over n training samples, with l2 = 1 / (C * n),

    two classes:  mean_i [log(1 + exp(z_i)) - y_i z_i] + l2/2 |w|^2,       z = X w + b
    K classes:    mean_i [logsumexp(Z_i) - Z_i,y_i] + l2/2 |W|_F^2,        Z = X W + b

(the multinomial softmax with one weight column per class; the intercept b is not penalised).
The problem is strictly convex, so solved more tightly than sklearn's default tol=1e-4 it gives
sklearn's optimum to within sklearn's own tolerance.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, sparse, special
from threadpoolctl import threadpool_limits

from tl_text.errors import ConfigError


def fit_logistic_regression(features, labels, C: float = 1.0, *, feature_scale=None,
                            tol: float = 1e-8, max_iter: int = 20_000
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Fit on `features` (scipy sparse or dense [samples, features]) and `labels` (any sortable
    values; the classes are their sorted unique values, as in sklearn).

    Returns (coef [features, outputs], intercept [outputs]): one output (the logit of the
    second class) for two classes, else one per class. `feature_scale` ([features] or
    [features, outputs]) multiplies each output's features before the weights, so the penalty
    stays on the unscaled weights (NB-LR); the logits are then X @ (feature_scale * coef) + b.
    The solver stops when no gradient component exceeds `tol`, or after `max_iter` steps.
    """
    if isinstance(C, bool) or not (isinstance(C, (int, float)) and C > 0):
        raise ConfigError(f"C must be a positive number, got {C!r}")
    matrix = _matrix(features)
    classes, y = np.unique(np.asarray(labels), return_inverse=True)
    if len(classes) < 2:
        raise ConfigError(f"logistic regression needs at least two classes, got {classes}")
    if len(y) != matrix.shape[0]:
        raise ConfigError(f"{matrix.shape[0]} feature rows but {len(y)} labels")
    outputs = 1 if len(classes) == 2 else len(classes)
    targets = (y[:, None] == (np.arange(outputs) + (outputs == 1))).astype(np.float64)
    scale = _feature_scale(feature_scale, matrix.shape[1], outputs)
    l2 = 1.0 / (C * matrix.shape[0])
    start = np.zeros((matrix.shape[1] + 1) * outputs)
    # L-BFGS-B's steps are level-1 BLAS on vectors as long as the vocabulary: threads only
    # add synchronisation, and stall where another process keeps a core busy (16 times slower
    # on 2 shared cores).
    with threadpool_limits(limits=1, user_api="blas"):
        result = optimize.minimize(
            _loss_and_gradient, start, args=(matrix, targets, scale, l2), method="L-BFGS-B",
            jac=True, options={"maxiter": max_iter, "maxls": 50, "gtol": tol,
                               "ftol": 64 * np.finfo(float).eps})
    if result.status == 1:
        warnings.warn(f"logistic regression: L-BFGS stopped after {max_iter} iterations with "
                      f"a gradient of {np.abs(result.jac).max():.1e} (tol {tol:g})",
                      RuntimeWarning, stacklevel=2)
    params = result.x.reshape(-1, outputs)
    return params[:-1], params[-1]


def _loss_and_gradient(params: np.ndarray, matrix, targets: np.ndarray, scale: np.ndarray,
                       l2: float) -> tuple[float, np.ndarray]:
    params = params.reshape(-1, targets.shape[1])
    weights, intercept = params[:-1], params[-1]
    logits = np.asarray(matrix @ (scale * weights)) + intercept
    if targets.shape[1] == 1:
        normaliser = np.logaddexp(0, logits)
        residuals = special.expit(logits) - targets
    else:
        normaliser = special.logsumexp(logits, axis=1, keepdims=True)
        residuals = np.exp(logits - normaliser) - targets
    loss = (normaliser.sum() - np.vdot(logits, targets)) / len(targets)
    residuals /= len(targets)
    gradient = np.vstack([scale * np.asarray(matrix.T @ residuals) + l2 * weights,
                          residuals.sum(axis=0)])
    return loss + 0.5 * l2 * np.vdot(weights, weights), gradient.ravel()


def _matrix(features):
    if sparse.issparse(features):
        return sparse.csr_matrix(features, dtype=np.float64)
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2:
        raise ConfigError(f"features must be a 2-D matrix, got shape {matrix.shape}")
    return matrix


def _feature_scale(feature_scale, columns: int, outputs: int) -> np.ndarray:
    if feature_scale is None:
        return np.ones((columns, 1))
    scale = np.asarray(feature_scale, dtype=np.float64)
    scale = scale[:, None] if scale.ndim == 1 else scale
    if scale.shape not in ((columns, 1), (columns, outputs)):
        raise ConfigError(f"feature_scale must have shape [{columns}] or [{columns}, "
                          f"{outputs}], got {np.shape(feature_scale)}")
    return scale
