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
def finish(acc, ff, p0, p1, p2, q0, q1, q2, count, sums):  # pragma: no cover - jitted
    acc[0] = ff
    ps = (p0, p1, p2)
    qs = (q0, q1, q2)
    for c in range(min(count, 3)):
        acc[1 + c] = ps[c]
        acc[1 + count + c] = qs[c]
    for c in range(1 + 2 * count):
        sums[c] += acc[c]


@nb.njit(nogil=True, cache=True)
def pass_a(lo, hi, starts, ends, indices, data, scale, rhs, x, g, f, g_new, f_new,
           dG, dF, slot, count, record, sums):  # pragma: no cover - jitted
    # sums: [‖f'‖², ΔF_c·ΔF_slot (count), ΔF_c·f' (count)], accumulated locally
    scaled = scale.shape[0] > 0  # else no row scale: one vector fewer to read
    acc = np.zeros(1 + 2 * count)
    ff = p0 = p1 = p2 = q0 = q1 = q2 = 0.0
    for i in range(lo, hi):
        s = 0.0
        # unsigned positions: Numba then skips the negative-index wraparound test
        for p in range(np.uint64(starts[i]), np.uint64(ends[i])):
            s += data[p] * x[np.uint64(indices[p])]
        gi = rhs[i] + (scale[i] * s if scaled else s)
        fi = gi - x[i]
        g_new[i] = gi
        f_new[i] = fi
        ff += fi * fi
        if record:
            a0, a1, a2, b0, b1, b2 = history(dF, dG, slot, count, i, gi, g[i], fi, f[i],
                                             acc)
            p0 += a0
            p1 += a1
            p2 += a2
            q0 += b0
            q1 += b1
            q2 += b2
    finish(acc, ff, p0, p1, p2, q0, q1, q2, count, sums)


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
    ff = p0 = p1 = p2 = q0 = q1 = q2 = 0.0
    w = np.uint64(width)
    for i in range(lo, hi):
        row[:] = 0.0
        for p in range(np.uint64(starts[i]), np.uint64(ends[i])):
            a = data[p]
            base = np.uint64(indices[p]) * w
            for c in range(width):
                row[c] += a * x[base + np.uint64(c)]
        for c in range(width):
            k = i * width + c
            gi = rhs[k] + (scale[i] * row[c] if scaled else row[c])
            fi = gi - x[k]
            g_new[k] = gi
            f_new[k] = fi
            ff += fi * fi
            if record:
                a0, a1, a2, b0, b1, b2 = history(dF, dG, slot, count, k, gi, g[k], fi,
                                                 f[k], acc)
                p0 += a0
                p1 += a1
                p2 += a2
                q0 += b0
                q1 += b1
                q2 += b2
    finish(acc, ff, p0, p1, p2, q0, q1, q2, count, sums)
