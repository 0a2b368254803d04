"""MSCMNet's QCT loss (reid/losses/quadruple_centre.py): Eq. 9-16 of mscmnet.txt on hand-made features with known
centres, the released form, and properties over random batches."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.errors import ConfigError
from reid.losses.quadruple_centre import identity_means, qct_loss, qct_terms


def _blocks(*rows):
    return [torch.tensor(r, dtype=torch.float64) for r in rows]


def test_every_feature_on_the_other_modalitys_centre_and_far_negatives_give_zero():
    # Identity 0 at (0, 0), identity 1 at (3, 4): every stream of an identity on one point, identities 5 apart.
    point = [[0.0, 0.0], [3.0, 4.0]]
    blocks = _blocks(point, point, point, point)
    labels = torch.tensor([0, 1])
    terms = qct_terms(blocks, labels, rho=0.7)
    assert terms.quar.item() == terms.dual.item() == terms.negative.item() == 0.0
    assert qct_loss(blocks, labels).item() == qct_loss(blocks, labels, variant="released").item() == 0.0
    # Negatives within rho are pushed: each row is 5 from the other identity's centre.
    assert qct_terms(blocks, labels, rho=6.0).negative.item() == pytest.approx(1.0)


def test_terms_on_a_hand_example_with_known_centres():
    # One identity, K = 2 rows a block, 1-D features.
    vg, vc, tg, tc = [[0.0], [2.0]], [[4.0], [4.0]], [[10.0], [12.0]], [[6.0], [6.0]]
    labels = torch.tensor([0, 0])
    terms = qct_terms(_blocks(vg, vc, tg, tc), labels, rho=0.7)
    c_vg, c_tg = 1.0, 11.0  # Eq. 9
    quar = [abs(0 - c_tg), abs(2 - c_tg), abs(4 - c_tg), abs(4 - c_tg),
            abs(10 - c_vg), abs(12 - c_vg), abs(6 - c_vg), abs(6 - c_vg)]
    assert terms.quar.item() == pytest.approx(sum(quar) / 8)
    c_v, c_t = (0 + 2 + 4 + 4) / 4, (10 + 12 + 6 + 6) / 4  # Eq. 12
    dual = [abs(x - c_t) for x in (0, 2, 4, 4)] + [abs(x - c_v) for x in (10, 12, 6, 6)]
    assert terms.dual.item() == pytest.approx(sum(dual) / 8)
    assert terms.negative.item() == 0.0  # one identity: no negative
    paper = 0.05 * terms.quar + 0.95 * terms.dual + terms.negative
    assert qct_loss(_blocks(vg, vc, tg, tc), labels).item() == pytest.approx(paper.item())
    assert qct_loss(_blocks(vg, vc, tg, tc), labels, variant="released").item() == pytest.approx(
        (terms.dual + terms.negative).item() / 2)


def test_negative_term_averages_over_the_other_identities():
    # Three identities on a line at 0, 1, 10; rho 2: identity 0 is 1 from identity 1 (hinge 1) and 10 from 2 (0).
    point = [[0.0], [1.0], [10.0]]
    terms = qct_terms(_blocks(point, point, point, point), torch.tensor([0, 1, 2]), rho=2.0)
    per_row = [(1 + 0) / 2, (1 + 0) / 2, (0 + 0) / 2]
    assert terms.negative.item() == pytest.approx(sum(per_row) / 3)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 4), st.integers(1, 3), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_loss_is_finite_non_negative_and_invariant_to_the_row_order(ids, k, dim, seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(ids).repeat_interleave(k)
    blocks = [torch.randn(ids * k, dim, generator=g, dtype=torch.float64) for _ in range(4)]
    order = torch.randperm(ids * k, generator=g)
    for variant in ("paper", "released"):
        loss = qct_loss(blocks, labels, variant=variant)
        assert math.isfinite(loss.item()) and loss.item() >= 0
        shuffled = qct_loss([b[order] for b in blocks], labels[order], variant=variant)
        assert shuffled.item() == pytest.approx(loss.item(), rel=1e-9, abs=1e-12)


def test_gradients_pull_each_stream_towards_the_other_modality():
    vg = torch.tensor([[0.0], [0.0]], requires_grad=True)
    rest = _blocks([[0.0], [0.0]], [[1.0], [1.0]], [[1.0], [1.0]])
    qct_loss([vg, *(r.float() for r in rest)], torch.tensor([0, 0])).backward()
    assert (vg.grad < 0).all()  # the infrared centre is above: descending the loss moves V_g up


def test_identity_means():
    features = torch.tensor([[1.0], [3.0], [10.0]])
    assert identity_means(features, torch.tensor([5, 5, 7]), torch.tensor([5, 7])).tolist() == [[2.0], [10.0]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"variant": "mine"}, "variant"), ({"alpha": 1.5}, "alpha"), ({"rho": -1.0}, "rho")],
)
def test_bad_options_are_refused(kwargs, match):
    blocks = _blocks([[0.0]], [[0.0]], [[0.0]], [[0.0]])
    with pytest.raises(ConfigError, match=match):
        qct_loss(blocks, torch.tensor([0]), **kwargs)


def test_malformed_blocks_are_refused():
    with pytest.raises(ConfigError, match="4 feature blocks"):
        qct_terms(_blocks([[0.0]], [[0.0]], [[0.0]]), torch.tensor([0]), rho=0.7)
    with pytest.raises(ConfigError, match="labels"):
        qct_terms(_blocks([[0.0]], [[0.0]], [[0.0]], [[0.0], [1.0]]), torch.tensor([0]), rho=0.7)
