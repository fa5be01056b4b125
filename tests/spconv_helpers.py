"""Helpers shared by the tests of the spconv CPU path."""


def rulebook_read_region(pairs, counts, subm):
    """The columns of an spconv rule-book that anything reads, one ``(2, n_k)`` slice per
    kernel offset ``k`` (layout in ``graspcontrast_mm.ops.spconv_cpu``'s docstring: a
    submanifold rule-book counts only the first half of its offsets; the second half
    holds the mirrored offsets' pairs, the implicit centre none)."""
    kv = pairs.shape[1]
    n = [int(counts[k]) if not subm or k <= kv // 2 else int(counts[kv - 1 - k])
         for k in range(kv)]
    return [pairs[:, k, :n[k]] for k in range(kv)]
