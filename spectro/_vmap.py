"""Batching rules of spectro::analysis and spectro::synthesis for torch.vmap (and torch.func transforms over it).

Without a rule, vmap runs a custom op once per example (functorch's fallback loop): a kernel launch per example, as
in per-example gradients (``vmap(grad(loss))``). Both ops already take a batch dimension (``x`` is ``[batch, T]``,
``spec`` is ``[batch, bins, frames]``) and treat its rows independently, so a vmapped signal or spectrum folds into
that dimension: one call over ``V * batch`` rows, whose result is split back into ``[V, batch, ...]`` (a view: the
rows stay the op's own rows, so the values equal the per-example calls' exactly). A vmapped window, which differs per
example, is not a batch of rows: each example is called on its own, as the fallback would.
"""
from __future__ import annotations

import torch


def _rows_rule(op):
    def rule(info, in_dims, data, window, *args, **kwargs):
        data_dim, window_dim = in_dims[0], in_dims[1]
        if window_dim is not None:  # one window per example: one call per example
            data = data.movedim(data_dim, 0) if data_dim is not None else data.expand(info.batch_size, *data.shape)
            window = window.movedim(window_dim, 0)
            return torch.stack([op(data[v], window[v], *args, **kwargs) for v in range(info.batch_size)]), 0
        data = data.movedim(data_dim, 0)
        v, rows = data.shape[0], data.shape[1]
        out = op(data.reshape(v * rows, *data.shape[2:]), window, *args, **kwargs)
        return out.reshape(v, rows, *out.shape[1:]), 0

    return rule


def register() -> None:
    """Registers the rules (torch >= 2.5; with an older torch vmap keeps its per-example fallback: the same values)."""
    if not hasattr(torch.library, "register_vmap"):
        return
    for name in ("analysis", "synthesis"):
        op = getattr(torch.ops.spectro, name).default
        torch.library.register_vmap(f"spectro::{name}", _rows_rule(op))
