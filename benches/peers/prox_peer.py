"""Straightforward numpy + scipy peer of the wgf prox inner loop (METHODS.md §5 reference problem).

m = 50 neurons, n = 5 sine points, d = 2, alternating signs, Sum scaling, Mse loss,
init N(0, (1e-2)^2), inner GD V <- V - beta (grad F(V) + (1/(m gamma)) (V - W[sigma])),
beta = 1 / (L + 1/(m gamma)), L = (2m/n) sum_j |X_j|^2. Wasserstein: sigma from
scipy.optimize.linear_sum_assignment on the squared-distance cost at every inner iteration.
Prints microseconds per inner iteration for both distances.
Usage: python prox_peer.py [--inner N] [--gamma G]
"""
import argparse
import time

import numpy as np
from scipy.optimize import linear_sum_assignment


def problem(m=50, n=5, seed=0):
    x = np.linspace(-1.0, 1.0, n)
    X = np.stack([x, np.ones(n)], axis=1)  # n x d, last column = bias
    y = np.sin(np.pi * x)
    alpha = np.where(np.arange(m) % 2 == 0, 1.0, -1.0)
    W0 = 1e-2 * np.random.default_rng(seed).standard_normal((m, 2))
    return X, y, alpha, W0


def loss_and_grad(V, X, y, alpha):
    Z = V @ X.T  # m x n pre-activations
    f = alpha @ np.maximum(Z, 0.0)  # n outputs
    e = f - y
    n = len(y)
    S = (Z > 0.0).astype(float)
    grad = (2.0 / n) * (alpha[:, None] * (S * e[None, :])) @ X  # m x d
    return np.mean(e * e), grad


def inner_loop(W, X, y, alpha, gamma, iters, wasserstein):
    m = W.shape[0]
    kappa = 1.0 / (m * gamma)
    L = 2.0 * m / len(y) * np.sum(X * X)
    beta = 1.0 / (L + kappa)
    V = W.copy()
    sigma = np.arange(m)
    for _ in range(iters):
        if wasserstein:
            cost = ((V[:, None, :] - W[None, :, :]) ** 2).sum(axis=2)
            _, sigma = linear_sum_assignment(cost)
        _, g = loss_and_grad(V, X, y, alpha)
        V = V - beta * (g + kappa * (V - W[sigma]))
    return V


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inner", type=int, default=10_000)
    ap.add_argument("--gamma", type=float, default=1.0)
    args = ap.parse_args()
    X, y, alpha, W0 = problem()
    for name, wass in [("frobenius", False), ("wasserstein", True)]:
        t0 = time.perf_counter()
        V = inner_loop(W0, X, y, alpha, args.gamma, args.inner, wass)
        dt = time.perf_counter() - t0
        loss, _ = loss_and_grad(V, X, y, alpha)
        print(f"{name:12s} gamma={args.gamma:g} iters={args.inner} "
              f"us_per_iter={1e6 * dt / args.inner:.2f} loss={loss:.4e}")


if __name__ == "__main__":
    main()
