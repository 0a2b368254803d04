"""Metric-learning losses: hand-computed values, naive per-anchor loops against the vectorised code, properties.

The loops below are the references: they follow protocols.md sec. 4 (AGW ``TripletLoss_WRT``), sec. 5 (CAJ
``TripletLoss_ADP``), BoT ``TripletLoss`` and XIV Eq. 5, 6 and 10 (``xiv.txt``) one anchor at a time, on
Python floats, with distances computed pair by pair as ``sqrt(max(sum (a - b)^2, 1e-12))``.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.errors import ConfigError
from reid.losses import (
    BatchHardTripletLoss,
    TripletLossADP,
    WeightedRegularizationTriplet,
    adp_ranking_loss,
    adp_triplet,
    batch_hard_triplet,
    cross_entropy,
    hardest_pairs,
    masked_softmax_weights,
    pairwise_euclidean,
    weighted_distances,
    weighted_regularization_triplet,
)

F64 = torch.float64
E = math.exp
SETTINGS = settings(max_examples=25, deadline=None)

# Four 1-D points with integer distances: ids 0 at x = 0, 1 and ids 1 at x = 3, 7.
#   d(0,1) = 1, d(0,3) = 3, d(0,7) = 7, d(1,3) = 2, d(1,7) = 6, d(3,7) = 4; each point to itself: 1e-6.
LINE = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=F64)
LINE_IDS = torch.tensor([0, 0, 1, 1])

# WRT on LINE by hand (protocols.md sec. 4). Positives include the anchor (distance 1e-6) and are shifted by
# the farthest positive; negatives are not shifted (the reference's masked max is 0); +1e-6 in denominators.
DP = [
    (1 * E(0) + 1e-6 * E(1e-6 - 1)) / (E(0) + E(1e-6 - 1) + 1e-6),  # x=0: {x=1: 1, itself} ~ sigmoid(1) = 0.7311
    (1 * E(0) + 1e-6 * E(1e-6 - 1)) / (E(0) + E(1e-6 - 1) + 1e-6),  # x=1: {x=0: 1, itself}
    (4 * E(0) + 1e-6 * E(1e-6 - 4)) / (E(0) + E(1e-6 - 4) + 1e-6),  # x=3: {x=7: 4, itself} ~ 3.9281
    (4 * E(0) + 1e-6 * E(1e-6 - 4)) / (E(0) + E(1e-6 - 4) + 1e-6),  # x=7: {x=3: 4, itself}
]
DN = [
    (3 * E(-3) + 7 * E(-7)) / (E(-3) + E(-7) + 1e-6),  # x=0: {3, 7} ~ 3.0719
    (2 * E(-2) + 6 * E(-6)) / (E(-2) + E(-6) + 1e-6),  # x=1: {2, 6} ~ 2.0719
    (3 * E(-3) + 2 * E(-2)) / (E(-3) + E(-2) + 1e-6),  # x=3: {3, 2} ~ 2.2689
    (7 * E(-7) + 6 * E(-6)) / (E(-7) + E(-6) + 1e-6),  # x=7: {7, 6} ~ 6.2671
]


# ---------------------------------------------------------------- naive references


def pair_distance(a: list[float], b: list[float]) -> float:
    return math.sqrt(max(sum((p - q) ** 2 for p, q in zip(a, b)), 1e-12))


def loop_hardest(
    anchors: torch.Tensor,
    anchor_ids: torch.Tensor,
    candidates: torch.Tensor | None = None,
    candidate_ids: torch.Tensor | None = None,
    exclude_self: bool = False,
) -> list[tuple[float, float] | None]:
    """Per anchor (hardest positive, hardest negative), or None when either set is empty."""
    within = candidates is None
    cands = (anchors if within else candidates).tolist()
    cand_ids = (anchor_ids if within else candidate_ids).tolist()
    out = []
    for i, (a, y) in enumerate(zip(anchors.tolist(), anchor_ids.tolist())):
        pos = [
            pair_distance(a, c)
            for j, (c, z) in enumerate(zip(cands, cand_ids))
            if z == y and not (within and exclude_self and j == i)
        ]
        neg = [pair_distance(a, c) for c, z in zip(cands, cand_ids) if z != y]
        out.append((max(pos), min(neg)) if pos and neg else None)
    return out


def loop_batch_hard(anchors, anchor_ids, margin, candidates=None, candidate_ids=None, soft=False, exclude_self=False):
    """BoT / XIV Eq. 5, 6, 10: mean over anchors with a triplet of [margin + d_ap - d_an]_+ (or softplus)."""
    terms = []
    for pair in loop_hardest(anchors, anchor_ids, candidates, candidate_ids, exclude_self):
        if pair is None:
            continue
        ap, an = pair
        terms.append(math.log1p(math.exp(ap - an)) if soft else max(0.0, ap - an + margin))
    return sum(terms) / len(terms)


def loop_weighted(features: torch.Tensor, ids: torch.Tensor, alpha: float = 1.0) -> list[tuple[float, float]]:
    """Per anchor (dp, dn) of WRT / ADP, written from protocols.md sec. 4 and 5."""
    rows, labels = features.tolist(), ids.tolist()
    out = []
    for a, y in zip(rows, labels):
        pos = [pair_distance(a, b) for b, z in zip(rows, labels) if z == y]  # the anchor itself included
        neg = [pair_distance(a, b) for b, z in zip(rows, labels) if z != y]
        shift = alpha * max(pos)  # the farthest positive: max of alpha*d over the row, zeros elsewhere
        zp = sum(E(alpha * d - shift) for d in pos) + 1e-6
        dp = sum(d * E(alpha * d - shift) for d in pos) / zp
        # Negatives: the reference's shift is max over the row of -alpha*d (negatives) and 0 (others) = 0.
        zn = sum(E(-alpha * d) for d in neg) + 1e-6
        dn = sum(d * E(-alpha * d) for d in neg) / zn
        out.append((dp, dn))
    return out


def softplus(v: float) -> float:
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def loop_wrt(features, ids):
    terms = [softplus(dp - dn) for dp, dn in loop_weighted(features, ids)]
    return sum(terms) / len(terms)


def loop_adp(features, ids, alpha, gamma, square):
    terms = []
    for dp, dn in loop_weighted(features, ids, alpha):
        if square == 0:
            terms.append(softplus(-gamma * (dn - dp)))
        else:
            s = min(gamma * (dp - dn) ** 2, 88.0)
            y = -1.0 if dp > dn else 1.0
            terms.append(softplus(-y * s))
    return sum(terms) / len(terms)


# ---------------------------------------------------------------- random batches


def draw_batch(draw, dim: int, min_per_id: int = 1, max_ids: int = 6):
    """(features [N, dim] float64, labels [N]) in a shuffled order; ids are 7k + 3, not 0..K-1."""
    sizes = draw(st.lists(st.integers(min_per_id, 4), min_size=2, max_size=max_ids))
    scale = draw(st.sampled_from([0.1, 1.0, 6.0]))  # 6.0 puts negatives beyond the WRT quirk's ~14
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    labels = torch.tensor([7 * k + 3 for k, size in enumerate(sizes) for _ in range(size)])
    features = torch.randn(len(labels), dim, generator=gen, dtype=F64) * scale
    order = torch.randperm(len(labels), generator=gen)
    return features[order], labels[order]


@st.composite
def batches(draw, min_per_id: int = 1):
    """One labelled batch; singleton identities allowed unless ``min_per_id`` is 2."""
    return draw_batch(draw, draw(st.integers(1, 5)), min_per_id)


@st.composite
def two_sets(draw):
    """Anchors and candidates of the same feature size; ids partly shared (the first K of each)."""
    dim = draw(st.integers(1, 5))
    return draw_batch(draw, dim), draw_batch(draw, dim)


def shuffled(features, labels, seed):
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    return features[order], labels[order]


# ---------------------------------------------------------------- pairwise_euclidean


def test_pairwise_on_integer_points():
    expected = torch.tensor([[0, 1, 3, 7], [1, 0, 2, 6], [3, 2, 0, 4], [7, 6, 4, 0]], dtype=F64)
    expected += 1e-6 * torch.eye(4, dtype=F64)  # the clamp floor sqrt(1e-12) on the diagonal
    assert torch.allclose(pairwise_euclidean(LINE), expected, rtol=0, atol=1e-12)


@SETTINGS
@given(batches(), st.integers(1, 6), st.integers(0, 1000))
def test_pairwise_matches_cdist_and_is_symmetric(batch, m, seed):
    x, _ = batch
    y = torch.randn(m, x.shape[1], generator=torch.Generator().manual_seed(seed), dtype=F64)
    assert pairwise_euclidean(x, y).shape == (x.shape[0], m)
    assert torch.allclose(pairwise_euclidean(x, y), torch.cdist(x, y).clamp(min=1e-6), rtol=1e-9, atol=1e-9)
    d = pairwise_euclidean(x)
    assert torch.allclose(d, d.t(), rtol=1e-12, atol=1e-9)
    assert torch.all(d.diagonal() <= 1e-5) and torch.all(d >= 1e-6)


def test_pairwise_float32_and_duplicate_rows_have_finite_gradients():
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0], [4.0, 6.0]], requires_grad=True)
    d = pairwise_euclidean(x)
    assert d[0, 2].item() == pytest.approx(5.0, abs=1e-5)
    d.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_pairwise_runs_in_float32_inside_autocast():
    """An autocast region would run the expansion's matrix product in low precision, where close rows cancel."""
    g = torch.Generator().manual_seed(0)
    x = 100.0 + torch.randn(6, 64, generator=g)
    expected = pairwise_euclidean(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = pairwise_euclidean(x)
        low = torch.addmm(x.pow(2).sum(1, keepdim=True), x, x.t())
    assert low.dtype == torch.bfloat16  # the region does lower an unguarded product
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected)


def test_pairwise_rejects_bad_inputs():
    with pytest.raises(ValueError, match="2-D"):
        pairwise_euclidean(torch.zeros(3))
    with pytest.raises(ValueError, match="features per row"):
        pairwise_euclidean(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(TypeError, match="floating-point"):
        pairwise_euclidean(torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="dtype"):
        pairwise_euclidean(torch.zeros(3, 2), torch.zeros(3, 2, dtype=F64))


# ---------------------------------------------------------------- batch-hard triplet


def test_batch_hard_by_hand():
    # Hardest (positive, negative) per anchor: x=0 (1, 3), x=1 (1, 2), x=3 (4, 2), x=7 (4, 6).
    # Hinge with margin 0.3: 0, 0, 4 - 2 + 0.3 = 2.3, 0 -> mean 0.575.
    pairs = hardest_pairs(LINE, LINE_IDS)
    assert pairs.positive.tolist() == [1.0, 1.0, 4.0, 4.0]
    assert pairs.negative.tolist() == [3.0, 2.0, 2.0, 6.0]
    assert pairs.correct() == 3
    assert batch_hard_triplet(LINE, LINE_IDS, 0.3).item() == pytest.approx(0.575, abs=1e-12)
    soft = (math.log1p(E(-2)) + math.log1p(E(-1)) + math.log1p(E(2)) + math.log1p(E(-2))) / 4
    assert batch_hard_triplet(LINE, LINE_IDS, 0.0, soft_margin=True).item() == pytest.approx(soft, abs=1e-12)
    assert BatchHardTripletLoss(0.3)(LINE, LINE_IDS).item() == pytest.approx(0.575, abs=1e-12)


def test_singleton_anchor_uses_itself_unless_excluded():
    # LINE plus x=9 alone with id 5. Hardest (positive, negative): x=0 (1, 3), x=1 (1, 2), x=3 (4, 2),
    # x=7 (4, 2: x=9 is now its nearest negative), x=9 (itself 1e-6, 2).
    x = torch.cat([LINE, torch.tensor([[9.0]], dtype=F64)])
    ids = torch.tensor([0, 0, 1, 1, 5])
    # Margin 3: 1, 2, 5, 5 and 1e-6 - 2 + 3 for the singleton.
    assert batch_hard_triplet(x, ids, 3.0).item() == pytest.approx((1 + 2 + 5 + 5 + (1 + 1e-6)) / 5, abs=1e-12)
    # Without itself the singleton has no positive and leaves the mean.
    assert batch_hard_triplet(x, ids, 3.0, exclude_self=True).item() == pytest.approx(13 / 4, abs=1e-12)
    assert hardest_pairs(x, ids, exclude_self=True).valid.tolist() == [True, True, True, True, False]
    # Margin 0.3: 0, 0, 2.3, 2.3, and [1e-6 - 2 + 0.3]_+ = 0.
    assert batch_hard_triplet(x, ids, 0.3).item() == pytest.approx(4.6 / 5, abs=1e-12)


@SETTINGS
@given(batches(), st.sampled_from([0.0, 0.3, 0.5]), st.booleans())
def test_batch_hard_matches_loop(batch, margin, exclude_self):
    x, y = batch
    pairs = loop_hardest(x, y, exclude_self=exclude_self)
    if all(p is None for p in pairs):
        with pytest.raises(ValueError, match="no anchor"):
            batch_hard_triplet(x, y, margin, exclude_self=exclude_self)
        return
    expected = loop_batch_hard(x, y, margin, exclude_self=exclude_self)
    got = batch_hard_triplet(x, y, margin, exclude_self=exclude_self).item()
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert got >= 0
    if margin == 0.0:
        soft = loop_batch_hard(x, y, 0.0, soft=True, exclude_self=exclude_self)
        got_soft = batch_hard_triplet(x, y, 0.0, soft_margin=True, exclude_self=exclude_self).item()
        assert got_soft == pytest.approx(soft, rel=1e-9, abs=1e-9)


@SETTINGS
@given(two_sets(), st.sampled_from([0.3, 0.5]))
def test_cross_set_matches_loop(sets, margin):
    (x, y), (other, other_y) = sets
    pairs = loop_hardest(x, y, other, other_y)
    if all(p is None for p in pairs):
        with pytest.raises(ValueError, match="no anchor"):
            batch_hard_triplet(x, y, margin, other=other, other_labels=other_y)
        return
    got = batch_hard_triplet(x, y, margin, other=other, other_labels=other_y)
    assert got.item() == pytest.approx(loop_batch_hard(x, y, margin, other, other_y), rel=1e-9, abs=1e-9)
    valid = hardest_pairs(x, y, other=other, other_labels=other_y).valid
    assert valid.tolist() == [p is not None for p in pairs]


@SETTINGS
@given(batches(), st.integers(0, 1000))
def test_cross_set_against_itself_is_the_within_batch_form(batch, seed):
    x, y = batch
    within = batch_hard_triplet(x, y, 0.5)
    assert batch_hard_triplet(x, y, 0.5, other=x, other_labels=y).item() == pytest.approx(within.item(), abs=1e-12)
    # Candidates in another order: the same triplets.
    ox, oy = shuffled(x, y, seed)
    assert batch_hard_triplet(x, y, 0.5, other=ox, other_labels=oy).item() == pytest.approx(within.item(), abs=1e-9)


def test_xiv_eq4_two_directions_on_two_sets():
    # I at x = 0 (id 1), 10 (id 2); X at x = 1 (id 1), 4 (id 2). Eq. 5, anchors I: x=0: ap 1, an 4 -> 0;
    # x=10: ap 6, an 9 -> 0 with margin 0.5... ap 6 < an 9 so [0.5 + 6 - 9]_+ = 0. Eq. 6, anchors X: x=1: ap 1,
    # an 9 -> 0; x=4: ap 6, an 4 -> 0.5 + 6 - 4 = 2.5. Eq. 4: (0 + 0 + 0 + 2.5) / M = 2.5 / 2.
    i_feat, i_ids = torch.tensor([[0.0], [10.0]], dtype=F64), torch.tensor([1, 2])
    x_feat, x_ids = torch.tensor([[1.0], [4.0]], dtype=F64), torch.tensor([1, 2])
    loss = batch_hard_triplet(i_feat, i_ids, 0.5, other=x_feat, other_labels=x_ids) + batch_hard_triplet(
        x_feat, x_ids, 0.5, other=i_feat, other_labels=i_ids
    )
    assert loss.item() == pytest.approx(2.5 / 2, abs=1e-12)


@SETTINGS
@given(batches(), st.integers(0, 1000), st.sampled_from([0.3, 0.5]))
def test_batch_hard_permutation_invariant(batch, seed, margin):
    x, y = batch
    px, py = shuffled(x, y, seed)
    assert batch_hard_triplet(px, py, margin).item() == pytest.approx(batch_hard_triplet(x, y, margin).item(), abs=1e-9)


@SETTINGS
@given(batches(min_per_id=2), st.sampled_from([0.5, 3.0]), st.sampled_from([0.0, 0.3]))
def test_batch_hard_scales_with_features_and_margin(batch, factor, margin):
    x, y = batch
    # Homogeneous of degree 1 in (features, margin) with a positive of every anchor at a real distance.
    scaled = batch_hard_triplet(x * factor, y, margin * factor).item()
    assert scaled == pytest.approx(factor * batch_hard_triplet(x, y, margin).item(), rel=1e-9, abs=1e-6 * factor)


@SETTINGS
@given(st.lists(st.integers(2, 4), min_size=2, max_size=5), st.integers(1, 4), st.integers(0, 1000))
def test_batch_hard_zero_once_separated_by_the_margin(sizes, dim, seed):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.tensor([k for k, size in enumerate(sizes) for _ in range(size)])
    centres = torch.zeros(len(sizes), dim, dtype=F64)
    centres[:, 0] = 10.0 * torch.arange(len(sizes), dtype=F64)  # centres 10 apart
    x = centres[labels] + (torch.rand(len(labels), dim, generator=gen, dtype=F64) - 0.5) * 0.2
    # Same id: at most 0.2 * sqrt(dim) <= 0.4 apart; other ids >= 9.8 apart: every gap exceeds a margin of 9.
    assert batch_hard_triplet(x, labels, 9.0).item() == 0.0
    # One margin more than the worst gap makes it positive.
    assert batch_hard_triplet(x, labels, 12.0).item() > 0.0


def test_batch_hard_gradients_flow_and_are_finite():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, generator=gen, dtype=F64)
    x[1] = x[0]  # a duplicated row: distance at the clamp floor
    x.requires_grad_(True)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    batch_hard_triplet(x, y, 100.0).backward()  # a margin no triplet meets: every anchor has a gradient
    assert torch.isfinite(x.grad).all() and (x.grad.abs().sum(dim=1) > 0).any()
    other = torch.randn(6, 4, generator=gen, dtype=F64, requires_grad=True)
    x.grad = None
    batch_hard_triplet(x, y, 100.0, other=other, other_labels=torch.tensor([0, 1, 2, 3, 0, 1])).backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(other.grad).all()
    assert x.grad.abs().sum() > 0 and other.grad.abs().sum() > 0


def test_batch_hard_rejects_bad_inputs():
    with pytest.raises(ConfigError, match="margin"):
        batch_hard_triplet(LINE, LINE_IDS, -0.1)
    with pytest.raises(ConfigError, match="margin"):
        batch_hard_triplet(LINE, LINE_IDS, math.nan)
    with pytest.raises(ConfigError, match="soft"):
        BatchHardTripletLoss(0.3, soft_margin=True)
    with pytest.raises(ConfigError, match="exclude_self"):
        batch_hard_triplet(LINE, LINE_IDS, 0.3, other=LINE, other_labels=LINE_IDS, exclude_self=True)
    with pytest.raises(ValueError, match="both"):
        batch_hard_triplet(LINE, LINE_IDS, 0.3, other=LINE)
    with pytest.raises(ValueError, match="no anchor"):
        batch_hard_triplet(LINE, torch.zeros(4, dtype=torch.long), 0.3)
    with pytest.raises(ValueError, match="labels"):
        batch_hard_triplet(LINE, LINE_IDS[:3], 0.3)
    with pytest.raises(TypeError, match="integer"):
        batch_hard_triplet(LINE, LINE_IDS.double(), 0.3)
    with pytest.raises(ValueError, match="other labels"):
        batch_hard_triplet(LINE, LINE_IDS, 0.3, other=LINE, other_labels=LINE_IDS[:2])
    assert "margin=0.5" in repr(BatchHardTripletLoss(0.5))


# ---------------------------------------------------------------- WRT


def test_wrt_by_hand():
    pair = weighted_distances(LINE, LINE_IDS)
    assert pair.positive.tolist() == pytest.approx(DP, abs=1e-12)
    assert pair.negative.tolist() == pytest.approx(DN, abs=1e-12)
    assert pair.correct() == 3  # x=3 has dp 3.93 > dn 2.27
    loss = sum(math.log1p(E(p - n)) for p, n in zip(DP, DN)) / 4  # ~ 0.5624
    assert weighted_regularization_triplet(LINE, LINE_IDS).item() == pytest.approx(loss, abs=1e-12)
    assert WeightedRegularizationTriplet()(LINE, LINE_IDS).item() == pytest.approx(loss, abs=1e-12)
    assert weighted_regularization_triplet(LINE.float(), LINE_IDS).item() == pytest.approx(loss, abs=1e-6)


def test_wrt_far_negatives_quirk():
    # Ids 0 at x = 0, 0.5 and ids 1 at x = 20, 20.5. Negatives are not shifted, so for x=0
    # dn = (20 e^-20 + 20.5 e^-20.5) / (e^-20 + e^-20.5 + 1e-6) ~ 0.067, not ~20: the +1e-6 dominates.
    x = torch.tensor([[0.0], [0.5], [20.0], [20.5]], dtype=F64, requires_grad=True)
    pair = weighted_distances(x, LINE_IDS)
    dn0 = (20 * E(-20) + 20.5 * E(-20.5)) / (E(-20) + E(-20.5) + 1e-6)
    assert pair.negative[0].item() == pytest.approx(dn0, abs=1e-12) and dn0 < 0.1
    weighted_regularization_triplet(x, LINE_IDS).backward()
    # Gradient descent moves x=0 toward its negatives at 20 (negative gradient) and x=20.5 toward 0.
    assert x.grad[0, 0] < 0 and x.grad[3, 0] > 0


def test_masked_softmax_weights_by_hand():
    scores = torch.tensor([[1.0, 2.0, 0.0], [-3.0, 0.0, -1.0]], dtype=F64)
    mask = torch.tensor([[1, 1, 0], [1, 0, 1]])
    w = masked_softmax_weights(scores, mask)
    # Row 0: shift max(1, 2, 0) = 2. Row 1: shift max(-3, 0, -1) = 0 (the excluded entry counts as 0).
    row0 = [E(-1) / (E(-1) + E(0) + 1e-6), E(0) / (E(-1) + E(0) + 1e-6), 0.0]
    row1 = [E(-3) / (E(-3) + E(-1) + 1e-6), 0.0, E(-1) / (E(-3) + E(-1) + 1e-6)]
    assert w.tolist()[0] == pytest.approx(row0, abs=1e-15)
    assert w.tolist()[1] == pytest.approx(row1, abs=1e-15)


@SETTINGS
@given(batches())
def test_wrt_matches_loop(batch):
    x, y = batch
    got = weighted_distances(x, y)
    expected = loop_weighted(x, y)
    assert got.positive.tolist() == pytest.approx([p for p, _ in expected], rel=1e-9, abs=1e-9)
    assert got.negative.tolist() == pytest.approx([n for _, n in expected], rel=1e-9, abs=1e-9)
    assert weighted_regularization_triplet(x, y).item() == pytest.approx(loop_wrt(x, y), rel=1e-9, abs=1e-9)


@SETTINGS
@given(batches(), st.integers(0, 1000))
def test_wrt_and_adp_permutation_invariant(batch, seed):
    x, y = batch
    px, py = shuffled(x, y, seed)
    assert weighted_regularization_triplet(px, py).item() == pytest.approx(
        weighted_regularization_triplet(x, y).item(), rel=1e-9, abs=1e-12
    )
    assert adp_triplet(px, py, square=1).item() == pytest.approx(
        adp_triplet(x, y, square=1).item(), rel=1e-9, abs=1e-12
    )


@SETTINGS
@given(batches())
def test_wrt_tends_to_log2_as_features_shrink(batch):
    x, y = batch
    # All distances ~1e-5: dp - dn ~ 1e-5, log(1 + exp(dp - dn)) = log 2 + (dp - dn)/2 + ...
    assert weighted_regularization_triplet(x * 1e-6, y).item() == pytest.approx(math.log(2), abs=1e-4)


def test_wrt_anchor_without_negatives_has_dn_zero():
    x = torch.tensor([[0.0], [2.0]], dtype=F64)
    pair = weighted_distances(x, torch.tensor([4, 4]))
    assert pair.negative.tolist() == [0.0, 0.0]
    dp = (2 * E(0) + 1e-6 * E(1e-6 - 2)) / (E(0) + E(1e-6 - 2) + 1e-6)
    assert pair.positive.tolist() == pytest.approx([dp, dp], abs=1e-12)


# ---------------------------------------------------------------- CAJ ADP


def test_adp_by_hand_both_branches():
    # dp, dn from the WRT hand computation (alpha = 1). square=0 with gamma=2: log(1 + exp(-2 (dn - dp))).
    sq0 = sum(math.log1p(E(-2 * (n - p))) for p, n in zip(DP, DN)) / 4
    assert adp_triplet(LINE, LINE_IDS, gamma=2.0, square=0).item() == pytest.approx(sq0, abs=1e-12)
    # square=1, gamma=2: s = 2 (dp - dn)^2; x=3 is violated (dp > dn): target -1 -> log(1 + exp(s));
    # the others satisfied: target +1 -> log(1 + exp(-s)).
    s = [2 * (p - n) ** 2 for p, n in zip(DP, DN)]
    sq1 = (math.log1p(E(-s[0])) + math.log1p(E(-s[1])) + math.log1p(E(s[2])) + math.log1p(E(-s[3]))) / 4
    assert adp_triplet(LINE, LINE_IDS, gamma=2.0, square=1).item() == pytest.approx(sq1, abs=1e-12)
    assert TripletLossADP(1, 2, 1)(LINE, LINE_IDS).item() == pytest.approx(sq1, abs=1e-12)
    assert math.log1p(E(s[2])) > math.log(2) > math.log1p(E(-s[0]))


def test_adp_squared_difference_is_capped_at_88():
    # Ids 0 at x = 0, 10 and ids 1 at x = 1, 11: every anchor has dp ~ 10 > dn ~ 1, so 2 (dp - dn)^2 > 88.
    x = torch.tensor([[0.0], [10.0], [1.0], [11.0]], requires_grad=True)
    ids = torch.tensor([0, 0, 1, 1])
    loss = adp_triplet(x, ids, gamma=2.0, square=1)
    assert loss.item() == pytest.approx(88.0 + math.log1p(E(-88.0)), rel=1e-6)
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().max() == 0  # the clamp stops every anchor's gradient


def test_adp_ranking_loss_sign_of_target():
    dp = torch.tensor([1.0, 3.0, 2.0], dtype=F64)
    dn = torch.tensor([2.0, 1.0, 2.0], dtype=F64)  # satisfied, violated, tie (s = 0: log 2 whatever the target)
    expected = (math.log1p(E(-1.0)) + math.log1p(E(4.0)) + math.log(2)) / 3
    assert adp_ranking_loss(dp, dn, square=1).item() == pytest.approx(expected, abs=1e-12)


@SETTINGS
@given(batches(), st.sampled_from([0.5, 1.0, 2.0]), st.sampled_from([0.5, 1.0, 3.0]), st.sampled_from([0, 1]))
def test_adp_matches_loop(batch, alpha, gamma, square):
    x, y = batch
    got = adp_triplet(x, y, alpha=alpha, gamma=gamma, square=square).item()
    assert got == pytest.approx(loop_adp(x, y, alpha, gamma, square), rel=1e-9, abs=1e-9)


@SETTINGS
@given(batches(), st.sampled_from([0.5, 2.0]))
def test_adp_square0_is_wrt_and_alpha_rescales(batch, a):
    x, y = batch
    wrt = weighted_regularization_triplet(x, y).item()
    assert adp_triplet(x, y).item() == wrt  # alpha = gamma = 1, square = 0 is WRT, bit for bit
    # alpha = gamma = a on x is WRT on a*x (up to the clamp floor on the diagonal, which does not scale).
    assert adp_triplet(x, y, alpha=a, gamma=a).item() == pytest.approx(
        weighted_regularization_triplet(x * a, y).item(), abs=1e-5
    )


def test_wrt_and_adp_gradients_flow_and_are_finite():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(12, 6, generator=gen) * 4
    x[3] = x[2]
    x.requires_grad_(True)
    y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 5])
    for loss in (weighted_regularization_triplet(x, y), adp_triplet(x, y, square=1), adp_triplet(x, y, alpha=2.0)):
        x.grad = None
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_adp_rejects_bad_options():
    for kwargs in ({"alpha": 0.0}, {"gamma": -1.0}, {"alpha": math.inf}, {"square": 2}, {"square": 1.0}):
        with pytest.raises(ConfigError):
            adp_triplet(LINE, LINE_IDS, **kwargs)
    with pytest.raises(ConfigError, match="square"):
        TripletLossADP(square=3)
    assert "square=1" in repr(TripletLossADP(square=1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_losses_on_cuda_match_cpu():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(24, 16, generator=gen, dtype=F64) * 3
    y = torch.arange(24) % 6
    other, other_y = x.flip(0) + 0.1, y.flip(0)
    on_cpu = [
        batch_hard_triplet(x, y, 0.3),
        batch_hard_triplet(x, y, 0.5, other=other, other_labels=other_y),
        weighted_regularization_triplet(x, y),
        adp_triplet(x, y, square=1),
    ]
    x, y, other, other_y = (t.cuda() for t in (x, y, other, other_y))
    on_gpu = [
        batch_hard_triplet(x, y, 0.3),
        batch_hard_triplet(x, y, 0.5, other=other, other_labels=other_y),
        weighted_regularization_triplet(x, y),
        adp_triplet(x, y, square=1),
    ]
    for cpu, gpu in zip(on_cpu, on_gpu):
        assert gpu.device.type == "cuda" and gpu.item() == pytest.approx(cpu.item(), rel=1e-9, abs=1e-9)


# ---------------------------------------------------------------- cross-entropy


def test_cross_entropy_matches_bot_label_smoothing():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]], dtype=F64)
    labels = torch.tensor([0, 1])
    logp = torch.log_softmax(logits, dim=1)
    eps, k = 0.1, 3
    # BoT CrossEntropyLabelSmooth: targets (1 - eps) onehot + eps / K, summed over classes, mean over the batch.
    targets = torch.full((2, k), eps / k, dtype=F64)
    targets[0, 0] += 1 - eps
    targets[1, 1] += 1 - eps
    expected = (-(targets * logp).sum(dim=1)).mean().item()
    assert cross_entropy(logits, labels, label_smoothing=eps).item() == pytest.approx(expected, abs=1e-12)
    plain = -(logp[0, 0] + logp[1, 1]).item() / 2
    assert cross_entropy(logits, labels).item() == pytest.approx(plain, abs=1e-12)
    with pytest.raises(ConfigError, match="label_smoothing"):
        cross_entropy(logits, labels, label_smoothing=1.5)
