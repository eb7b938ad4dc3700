"""The Numba kernels of the fused Anderson sweep (:mod:`econplan.threaded`).

Kept in their own module, imported only when a threaded sweep runs (Numba stays an optional
import), so that the kernels call their inlined helpers as module globals: Numba's disk cache
then holds them. Helpers that were closure variables of a factory function made every process
compile the kernels again (measured: ~1.4 s on the first sweep of each process).
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(nogil=True, cache=True, inline="always")
def history(dF, dG, slot, count, k, gi, gk, fi, fk, acc):  # pragma: no cover - jitted
    # writes element k of the new history slot and returns its terms of the Gram row
    # ΔF_c·ΔF_slot and of ΔF_c·f' for c < 3 (scalars: the sums then stay in registers;
    # accumulated in an array, each element waited on the last one's store); c ≥ 3 (a
    # memory above the default 3) go to ``acc`` directly
    dfi = fi - fk
    dG[slot, k] = gi - gk
    dF[slot, k] = dfi
    p0 = p1 = p2 = q0 = q1 = q2 = 0.0
    if count > 0:
        d = dF[0, k]
        p0 = d * dfi
        q0 = d * fi
    if count > 1:
        d = dF[1, k]
        p1 = d * dfi
        q1 = d * fi
    if count > 2:
        d = dF[2, k]
        p2 = d * dfi
        q2 = d * fi
    for c in range(3, count):
        d = dF[c, k]
        acc[1 + c] += d * dfi
        acc[1 + count + c] += d * fi
    return p0, p1, p2, q0, q1, q2


@nb.njit(nogil=True, cache=True, inline="always")
def element(k, s, rhs, x, g, f, g_new, f_new, dG, dF, slot, count, record,
            acc):  # pragma: no cover - jitted
    # element k of a sweep from its product s = (scaled) (M x)_k: g' = r + s, f' = g' − x,
    # the history slot when recording; returns the element's terms of the sums (‖f'‖², the
    # Gram row and ΔF·f' for c < 3)
    gi = rhs[k] + s
    fi = gi - x[k]
    g_new[k] = gi
    f_new[k] = fi
    if record:
        a0, a1, a2, b0, b1, b2 = history(dF, dG, slot, count, k, gi, g[k], fi, f[k], acc)
        return fi * fi, a0, a1, a2, b0, b1, b2
    return fi * fi, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0


@nb.njit(nogil=True, cache=True, inline="always")
def add(t, u):  # pragma: no cover - jitted
    return (t[0] + u[0], t[1] + u[1], t[2] + u[2], t[3] + u[3], t[4] + u[4], t[5] + u[5],
            t[6] + u[6])


@nb.njit(nogil=True, cache=True, inline="always")
def finish(acc, tot, count, sums):  # pragma: no cover - jitted
    # the sums' layout: [‖f'‖², ΔF_c·ΔF_slot (count), ΔF_c·f' (count)]
    acc[0] = tot[0]
    for c in range(min(count, 3)):
        acc[1 + c] = tot[1 + c]
        acc[1 + count + c] = tot[4 + c]
    for c in range(1 + 2 * count):
        sums[c] += acc[c]


@nb.njit(nogil=True, cache=True)
def pass_a(lo, hi, starts, ends, indices, data, scale, rhs, x, g, f, g_new, f_new,
           dG, dF, slot, count, record, sums):  # pragma: no cover - jitted
    # sums: [‖f'‖², ΔF_c·ΔF_slot (count), ΔF_c·f' (count)], accumulated locally
    scaled = scale.shape[0] > 0  # else no row scale: one vector fewer to read
    acc = np.zeros(1 + 2 * count)
    tot = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    for i in range(lo, hi):
        s = 0.0
        # unsigned positions: Numba then skips the negative-index wraparound test
        for p in range(np.uint64(starts[i]), np.uint64(ends[i])):
            s += data[p] * x[np.uint64(indices[p])]
        tot = add(tot, element(i, scale[i] * s if scaled else s, rhs, x, g, f, g_new, f_new,
                               dG, dF, slot, count, record, acc))
    finish(acc, tot, count, sums)


@nb.njit(nogil=True, cache=True)
def pass_b(lo, hi, g, dG, gamma, count, x_new):  # pragma: no cover - jitted
    for i in range(lo, hi):
        v = g[i]
        for c in range(count):
            v -= gamma[c] * dG[c, i]
        x_new[i] = v


@nb.njit(nogil=True, cache=True)
def pass_a_block(lo, hi, width, starts, ends, indices, data, scale, rhs, x, g, f, g_new,
                 f_new, dG, dF, slot, count, record, sums):  # pragma: no cover - jitted
    # pass_a for a block of ``width`` right-hand sides held row-major (element (i, c) at
    # i·width + c): one read of row i's entries serves every column
    scaled = scale.shape[0] > 0
    acc = np.zeros(1 + 2 * count)
    row = np.empty(width)
    tot = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    w = np.uint64(width)
    for i in range(lo, hi):
        row[:] = 0.0
        for p in range(np.uint64(starts[i]), np.uint64(ends[i])):
            a = data[p]
            base = np.uint64(indices[p]) * w
            for c in range(width):
                row[c] += a * x[base + np.uint64(c)]
        for c in range(width):
            tot = add(tot, element(i * width + c, scale[i] * row[c] if scaled else row[c],
                                   rhs, x, g, f, g_new, f_new, dG, dF, slot, count, record,
                                   acc))
    finish(acc, tot, count, sums)
