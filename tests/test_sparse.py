"""The sparse-label loss is the documented weighted mean, computed fast."""

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from napari_cryopick.model.sparse import (  # noqa: E402
    MINED,
    NEGATIVE,
    SparseWeights,
    sparse_loss,
)
from napari_cryopick.model.targets import IGNORE  # noqa: E402


def _reference(logits, labels, teacher, labelled, w):
    """The loss as the module docstring states it, voxel by voxel."""
    p = logits.double().softmax(dim=1)[0]  # (C, V): one batch item
    codes = labels[0, 0]
    t = teacher.double()[0]
    old = t.shape[0]
    kept = [c for c in range(1, old) if c not in labelled]
    other = [c for c in range(old) if c not in kept]
    q = logits.double()[0, :old].softmax(dim=0)  # old channels only
    ce, weight, kl, mass = [], [], [], []
    for v in range(codes.numel()):
        code = int(codes.view(-1)[v])
        pv = p.reshape(p.shape[0], -1)[:, v]
        if code in labelled:
            ce.append(-torch.log(pv[code]))
            weight.append(w.positive)
        else:
            inside = min(float(sum(pv[c] for c in labelled)), 1 - 1e-6)
            ce.append(-torch.log1p(-torch.tensor(inside, dtype=torch.float64)))
            weight.append(
                {0: w.unlabelled, NEGATIVE: w.negative, MINED: w.mined}.get(
                    code, 0.0
                )
            )
        if code == IGNORE:
            continue
        tv = t.reshape(old, -1)[:, v]
        qv = q.reshape(old, -1)[:, v]
        target = [max(float(tv[other].sum()), 1e-8)]
        target += [max(float(tv[c]), 1e-8) for c in kept]
        student = [float(qv[other].sum())] + [float(qv[c]) for c in kept]
        pairs = zip(target, student, strict=True)
        kl.append(sum(a * np.log(a / b) for a, b in pairs))
        mass.append(1.0 - target[0])
    ce = torch.stack(ce)
    weight = torch.tensor(weight, dtype=torch.float64)
    total = float((ce * weight).sum() / max(float(weight.sum()), 1.0))
    kl, mass = np.array(kl), np.array(mass)
    distill = kl.mean() + (kl * mass).sum() / max(mass.sum(), 1.0)
    return total + w.distill * distill


@pytest.mark.parametrize('labelled', [[7], [3], [2, 7]])
def test_the_loss_is_the_documented_weighted_mean(labelled):
    torch.manual_seed(0)
    logits = 2.0 * torch.randn(1, 8, 3, 4, 5)
    teacher = (3.0 * torch.randn(1, 7, 3, 4, 5)).softmax(dim=1)
    codes = torch.tensor([0, NEGATIVE, MINED, IGNORE, *labelled, 4])
    labels = codes[torch.randint(0, len(codes), (1, 1, 3, 4, 5))]
    weights = SparseWeights()
    got = sparse_loss(logits, labels, teacher, labelled, weights)
    expected = _reference(logits, labels, teacher, labelled, weights)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    # A code that is no term of the loss (another class's positive,
    # IGNORE) changes nothing, whatever the network says there.
    moved = logits.clone()
    moved[labels.expand_as(moved) == 4] += 10.0
    no_distill = SparseWeights(distill=0.0)
    assert sparse_loss(moved, labels, None, labelled, no_distill).item() == (
        pytest.approx(
            sparse_loss(logits, labels, None, labelled, no_distill).item()
        )
    )
