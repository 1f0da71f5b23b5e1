"""Learning from a few clicks: the loss of sparse, one-class labels.

The usual labels of a new particle are a handful of clicks of one class
in a tomogram full of unclicked particles of that class and of others.
A full segmentation loss would call every unclicked particle background
and make the model forget the classes nobody labelled. This loss asks
three things of the network, voxel by voxel, as one weighted mean:

* **positives** (spheres at the clicks): the clicked class
  (cross-entropy), each voxel weighing :attr:`SparseWeights.positive`;
* **negatives** (picks the user deleted or marked "not this", and the
  starting model's sure picks of the other classes,
  :func:`~napari_cryopick.model.finetune_labels.confident_others`):
  none of the labelled classes, each voxel weighing
  :attr:`SparseWeights.negative`; and every other unlabelled voxel the
  same with weight :attr:`SparseWeights.unlabelled` (positive-unlabelled
  learning: most unlabelled space holds no particle of the class, some
  of it does; a classifier trained on positives against unlabelled data
  still ranks the unlabelled positives above the rest, and the threshold
  comes from the clicks' own scores);
* **distillation**: the starting model's odds between the classes
  nobody labelled and the rest, kept where they were (KL divergence over
  the starting model's channels only, the labelled ones merged into
  background on both sides, averaged over all voxels and again over
  where the starting model sees those classes). A new class is left out
  of that softmax: it may take any voxel at no cost here, and prediction
  reads the old classes among themselves
  (:func:`~napari_cryopick.model.newclass.class_probabilities`), so they
  pick as the starting model did.

Why the new class is left out of the distillation: the starting model
has no name for a protein it never saw and calls it by one it knows
(in the benchmark, 54 of the 60 novel proteins of the clicked tomogram
were sure thyroglobulin, beta-galactosidase or apo-ferritin picks, and
so were most of the clicks). Distilled with the new class merged into
background, those names held at the clicks themselves and at every
unclicked copy: a quarter of the clicks scored under 0.05 after
training, and the new class 0.60 on the other tomogram; left out, the
clicks score about 1.0 and the new class 0.79 (20 clicks).

Why per-voxel weights, not a mean per term: with the positives averaged
on their own, a few hundred clicked voxels weighed as much as a
quarter-million unlabelled ones, about 2,600 times more each. A false
peak in empty space then cost almost nothing, and a tuned model called
thousands of places in a full-size tomogram the new class at 0.95
(novel-class F4 0.20 after 20 clicks, `benchmarks/bench_newclass.py`;
0.60 with these weights and the mined negatives). What was tried and
measured worse on the same benchmark: the mined negatives at 32 per voxel
(0.55), and the hardest known-negative voxels averaged on their own, as
many as the positives (0.05: it unlearnt the class).

Why the starting model runs on every batch: its pass is a fifth of a
step on a 2-core CPU, and computing its probabilities once per tomogram
instead (on the plain volume, cropped and turned with the labels) was
tried. The student then had to give the plain volume's answers on the
augmented patches, could not, and lost the old classes: the six CZII
classes' weighted F4 on the benchmark's second tomogram fell from 0.921
to 0.796 (0.918 with the pass per batch).

Label codes in the target volume: 0 unlabelled, 1..C a positive of that
output channel, :data:`NEGATIVE` "none of the labelled classes" (the
user's word), :data:`MINED` the same (the starting model's belief),
:data:`~napari_cryopick.model.targets.IGNORE` nothing asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from napari_cryopick.model.targets import IGNORE

#: Label code of a voxel known to hold none of the labelled classes.
NEGATIVE = 254
#: Label code of a voxel the starting model is sure holds another class.
MINED = 253


@dataclass(frozen=True)
class SparseWeights:
    """Per-voxel weights of the terms of :class:`SparseObjective`.

    Parameters
    ----------
    positive : float
        A voxel of a click, relative to an unlabelled voxel. With a
        third of a class clicked, a place that looks like the clicks
        ends near ``positive / (positive + 2)`` (0.97 at 64).
    negative : float
        A voxel of a known negative: what the user said (deleted picks,
        "not this" marks).
    mined : float
        A voxel of a particle the starting model is sure is of another
        class (:data:`MINED`): its belief, not the user's word, and as
        many as there are other particles.
    unlabelled : float
        Every other unlabelled voxel, a weak negative of the labelled
        classes (with complete labels it is a known negative).
    distill : float
        Keeping the unlabelled classes as the starting model had them.
    """

    positive: float = 64.0
    negative: float = 32.0
    mined: float = 4.0
    unlabelled: float = 1.0
    distill: float = 1.0


def sparse_objective(teacher, labelled, weights=SparseWeights()):  # noqa: B008
    """Return the :class:`SparseObjective` module (torch imported lazily).

    Parameters
    ----------
    teacher : torch.nn.Module
        The starting model's network (frozen, eval mode); its outputs are
        the student's first channels.
    labelled : sequence of int
        Output channels the labels cover.
    weights : SparseWeights
        Term weights.
    """
    import torch

    class SparseObjective(torch.nn.Module):
        """``objective(network, images, labels) -> loss`` for :func:`train`."""

        def __init__(self):
            super().__init__()
            self.teacher = teacher.eval()
            for parameter in self.teacher.parameters():
                parameter.requires_grad_(False)
            self.labelled = sorted(int(c) for c in labelled)
            self.weights = weights

        def train(self, mode: bool = True):
            # The teacher stays in eval mode whatever the student does.
            super().train(mode)
            self.teacher.eval()
            return self

        def forward(self, network, images, labels):
            logits = network(images)
            with torch.no_grad():
                taught = self.teacher(images).float().softmax(dim=1)
            return sparse_loss(
                logits, labels, taught, self.labelled, self.weights
            )

    return SparseObjective()


def sparse_loss(logits, labels, teacher_probs, labelled, weights):
    """Return the sparse-label loss of one batch (see the module).

    Parameters
    ----------
    logits : torch.Tensor
        (B, C, Z, Y, X) student logits.
    labels : torch.Tensor
        (B, 1, Z, Y, X) integer codes (see the module docstring).
    teacher_probs : torch.Tensor or None
        (B, T, Z, Y, X) starting model probabilities, T <= C (its
        channels are the student's first T); None: no distillation.
    labelled : list of int
        Channels the labels cover.
    weights : SparseWeights
        Term weights.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    import torch

    labels = labels[:, 0].long()
    log_p = torch.log_softmax(logits.float(), dim=1)
    # Per voxel: -log p(its class) at a click; -log(1 - p(any labelled
    # class)) elsewhere, known negatives and unlabelled space alike.
    p_labelled = log_p[:, _pick(labelled)].exp().sum(dim=1).clamp(max=1 - 1e-6)
    loss = -torch.log1p(-p_labelled)
    for channel in labelled:
        loss = torch.where(labels == channel, -log_p[:, channel], loss)
    # One lookup, not a masked write per code: the loss of a step is
    # a quarter of its time on a 2-core CPU.
    weight = _weights_by_code(weights, labelled, loss.device)[labels]
    total = (loss * weight).sum() / weight.sum().clamp_min(1.0)
    if teacher_probs is not None and weights.distill > 0:
        keep = labels != IGNORE
        total = total + weights.distill * _distill(
            logits, teacher_probs, labelled, keep
        )
    return total


def _weights_by_code(weights, labelled, device):
    """(256,) per-voxel weight of each label code (0 for IGNORE)."""
    import torch

    table = torch.zeros(256, device=device)
    table[0] = weights.unlabelled
    table[NEGATIVE] = weights.negative
    table[MINED] = weights.mined
    table[list(labelled)] = weights.positive
    return table


def _distill(logits, teacher, labelled, keep):
    """KL(teacher || student) over the unlabelled old classes.

    The student's distribution is taken over the teacher's channels
    only: the new channels are left out of its softmax, so a new class
    may take any voxel without a cost here, while the old classes keep
    their odds against each other and background. Background and every
    labelled old channel form one merged "other" class on both sides.
    """
    import torch

    old = teacher.shape[1]
    kept = [c for c in range(1, old) if c not in set(labelled)]
    if not kept:
        return logits.new_zeros((), dtype=torch.float32)
    other = _pick([c for c in range(old) if c not in set(kept)])
    kept = _pick(kept)
    log_old = torch.log_softmax(logits[:, :old].float(), dim=1)
    student_other = torch.logsumexp(log_old[:, other], dim=1)
    with torch.no_grad():
        target_other = teacher[:, other].sum(dim=1).clamp_min(1e-8)
        target_kept = teacher[:, kept].clamp_min(1e-8)
        entropy = target_other * target_other.log() + (
            target_kept * target_kept.log()
        ).sum(dim=1)
    # KL = sum t log t - sum t log s, over "other" and the kept classes.
    cross = target_other * student_other + (
        target_kept * log_old[:, kept]
    ).sum(dim=1)
    kl = entropy - cross
    if not keep.any():
        return kl.mean() * 0.0
    # Particles are a sliver of the voxels: a plain mean is background
    # and lets the peaks of the old classes sag under their thresholds.
    # The second term averages over where the teacher sees them.
    # (Masks multiply rather than select: selecting copied every term.)
    keep = keep.float()
    weight = (1.0 - target_other) * keep
    return (kl * keep).sum() / keep.sum() + (kl * weight).sum() / (
        weight.sum().clamp_min(1.0)
    )


def _pick(channels: list[int]):
    """``channels`` as a slice when they run in order (a view, no copy)."""
    if channels and channels == list(range(channels[0], channels[-1] + 1)):
        return slice(channels[0], channels[-1] + 1)
    return channels
