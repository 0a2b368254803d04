"""The papers' defaults, pinned with expectations written from the papers (or the released code), never read
back from the module under test (issue #20, item 2).

Each expected number below is a literal copied from its source: xiv.txt (Eq. 3-11, Implementation details),
cmmp.txt (Sec. 3.4 Eq. 1, Table 3), ICCV21_CAJ/ChannelAug.py (``ChannelAdapGray``) and docs/decisions.md
("The sanity bound: rank-1 above 2x and mAP above 1.5x random features on the same trials").
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch

import reid.data.transforms as T
from reid.harness.compare import sanity_problems
from reid.harness.execute import SettingResult
from reid.harness.reproduce import reproduce_case
from reid.methods import create_method
from reid.methods.base import TrainBatch
from reid.methods.cmmp import CMMP, CMMPPretrainer
from reid.methods.xiv import XIV

# =====================================================================================================================
# XIV (xiv.txt): margins alpha_1 = 0.5 (CMG, Eq. 5-6), alpha_2 = 0.3 (MRG, Eq. 10), lambda = 0.1 (Eq. 11)
# =====================================================================================================================

# xiv.txt, Implementation details: "The margin parameter alpha_1 in L_C is set to be 0.5 while the margin parameter
# alpha_2 in L_M is set to be 0.3 ... The trade-off hyperparameter lambda ... in Eq. 11 is set to be 0.1."
XIV_ALPHA_1 = 0.5
XIV_ALPHA_2 = 0.3
XIV_LAMBDA = 0.1


def _distances(anchors: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """``D`` of xiv.txt: the Euclidean distance, ``[N, M]``, in float64."""
    a, c = anchors.double(), candidates.double()
    return ((a[:, None, :] - c[None, :, :]) ** 2).sum(-1).sqrt()


def _paper_triplet(anchors, anchor_labels, candidates, candidate_labels, margin: float) -> torch.Tensor:
    """One direction of xiv.txt Eq. 5/6 (and Eq. 10 when ``candidates`` is the batch itself):
    ``(1/M) sum_i [margin + max_{y_j = y_i} D(a_i, c_j) - min_{y_k != y_i} D(a_i, c_k)]_+``.

    The ``1/M`` is docs/decisions.md "Eq. 4 and 8 divide sums by M"; within a batch the anchor is among its own
    positives ("Batch-hard: the anchor is one of its own positives by default": Eq. 10's ``j = 1..M`` includes i).
    """
    d = _distances(anchors, candidates)
    terms = []
    for i in range(anchors.shape[0]):
        same = candidate_labels == anchor_labels[i]
        hardest_positive = d[i][same].max()
        hardest_negative = d[i][~same].min()
        terms.append(torch.clamp(margin + hardest_positive - hardest_negative, min=0.0))
    return torch.stack(terms).mean()


def _paper_cross(a, b, labels, margin: float) -> torch.Tensor:
    """``L_cross^{A,B} = (1/M)(L_{A-B} + L_{B-A})``, xiv.txt Eq. 4-6 (the sum of the two per-anchor means)."""
    return _paper_triplet(a, labels, b, labels, margin) + _paper_triplet(b, labels, a, labels, margin)


def _xiv_batch() -> TrainBatch:
    """M = 8 per modality, 4 identities x 2 (a P x K batch as the paper's 12 x 4), 64 x 32 images; row i of the
    infrared and visible blocks is the same identity (the well-aligned batch of xiv.txt)."""
    g = torch.Generator().manual_seed(20)
    labels = torch.arange(4).repeat_interleave(2)
    views = {"infrared": torch.randn(8, 3, 64, 32, generator=g), "visible": torch.randn(8, 3, 64, 32, generator=g)}
    return TrainBatch(views=views, labels=labels)


def _xiv_default() -> XIV:
    return create_method("xiv", num_classes=4, arch="resnet18", generator=torch.Generator().manual_seed(0))


def _xiv_from_paper_config() -> XIV:
    options = XIV.from_config(XIV.paper_config(), 4) | {"arch": "resnet18", "pretrained": None}
    return create_method("xiv", generator=torch.Generator().manual_seed(0), **options)


@pytest.mark.parametrize("build", [_xiv_default, _xiv_from_paper_config], ids=["defaults", "paper_config"])
def test_xiv_step_recomputes_eq_7_to_11_with_alpha_2_for_mrg_and_alpha_1_for_cmg(build):
    """xiv.txt Eq. 7-11: L = sum_m (L_m^id + L_m^tri) + lambda (L_cross^{I,X} + L_cross^{I,V}); the per-modality
    triplets tri_I / tri_X / tri_V (Eq. 10) use alpha_2 = 0.3, the cross-modal ones (Eq. 5-6) alpha_1 = 0.5."""
    method = build().train()
    batch = _xiv_batch()
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    embed = method.embed

    def recording_embed(images: torch.Tensor) -> torch.Tensor:
        features = embed(images)
        seen.append((images.detach(), features.detach()))
        return features

    method.embed = recording_embed  # the features the step computes, exactly
    out = method.training_step(batch)
    assert len(seen) == 1
    images, features = seen[0]
    infrared, visible, labels = batch.views["infrared"], batch.views["visible"], batch.labels
    with torch.no_grad():
        # One well-aligned batch of 3M: I, X = g(V), V, in that order (xiv.txt Sec. "Cross-modal learning").
        assert torch.equal(images, torch.cat([infrared, method.x_modality(visible), visible]))
        logits = method.net.head(features)[1]
    m = labels.shape[0]
    f = dict(zip("IXV", features.split(m)))
    lg = dict(zip("IXV", logits.split(m)))

    tri = {k: _paper_triplet(f[k], labels, f[k], labels, XIV_ALPHA_2) for k in "IXV"}
    # The batch must tell the two margins apart by far more than the tolerance (the module's distances come from
    # the float32 expansion ||a||^2 + ||b||^2 - 2ab, a few 1e-5 off the float64 ones here), or the test could not
    # see a mutant.
    for k in "IXV":
        assert abs(_paper_triplet(f[k], labels, f[k], labels, XIV_ALPHA_1).item() - tri[k].item()) > 0.05
        assert out.parts[f"tri_{k}"].item() == pytest.approx(tri[k].item(), rel=1e-4, abs=1e-4), k
    identity = {k: torch.nn.functional.cross_entropy(lg[k].double(), labels) for k in "IXV"}  # Eq. 9, one-hot
    for k in "IXV":
        assert out.parts[f"id_{k}"].item() == pytest.approx(identity[k].item(), rel=1e-5, abs=1e-6), k
    cmg = _paper_cross(f["I"], f["X"], labels, XIV_ALPHA_1) + _paper_cross(f["I"], f["V"], labels, XIV_ALPHA_1)
    assert out.parts["cmg"].item() == pytest.approx(cmg.item(), rel=1e-4, abs=1e-4)
    total = sum(identity[k] + tri[k] for k in "IXV") + XIV_LAMBDA * cmg  # Eq. 7 + Eq. 11
    assert out.loss.item() == pytest.approx(total.item(), rel=1e-4, abs=1e-4)


def test_xiv_paper_config_and_constructor_state_the_papers_numbers():
    """xiv.txt, Implementation details: Adam, lr 0.00035 with warm-up, weight decay 0.0005, M = 48 per modality
    (docs/decisions.md "M = 48 as 12 identities x 4 images per modality"), 120 epochs, decay x0.1 at epochs 40 and
    70, alpha_1 = 0.5, alpha_2 = 0.3, lambda = 0.1; 256 x 128 input, modified ResNet-50 (last stride 1)."""
    config = XIV.paper_config()
    assert config.method_options["cross_margin"] == 0.5
    assert config.method_options["respective_margin"] == 0.3
    assert config.method_options["cmg_weight"] == 0.1
    assert config.method_options["use_x"] is True and config.method_options["label_smoothing"] == 0.0
    o = config.optim
    assert (o.optimizer, o.lr, o.weight_decay) == ("adam", 3.5e-4, 5e-4)
    assert o.backbone_lr == 3.5e-4 and o.warmup_epochs > 0
    assert (o.epochs, tuple(o.milestones), o.gamma) == (120, (40, 70), 0.1)
    d = config.data
    assert (d.num_ids_per_batch, d.num_per_id) == (12, 4) and d.num_ids_per_batch * d.num_per_id == 48
    assert (d.height, d.width) == (256, 128)
    assert (config.model.arch, config.model.last_stride) == ("resnet50", 1)
    # A method built by hand without options is the paper's method too.
    defaults = {name: p.default for name, p in inspect.signature(XIV.__init__).parameters.items()}
    assert (defaults["cross_margin"], defaults["respective_margin"], defaults["cmg_weight"]) == (0.5, 0.3, 0.1)


# =====================================================================================================================
# CMMP (cmmp.txt Sec. 3.4 Eq. 1, Table 3): which images' masked pixels enter the reconstruction loss
# =====================================================================================================================

# cmmp.txt Table 3 ("Prediction Target"), each row and the images it reconstructs; the option names are the
# suite's switches for those rows (v, g, i, vg, vgi). Sec. 3.4: the default reconstructs "visible images and
# generated images" only ("excluding the infrared image", Sec. 1).
TABLE_3_TARGETS = {
    "v": {"visible"},  # "Visible image"
    "g": {"generated"},  # "Generated image"
    "i": {"infrared"},  # "Infrared image"
    "vg": {"visible", "generated"},  # "Visible + Generated images" (CMMP)
    "vgi": {"visible", "generated", "infrared"},  # "Visible + Generated + Infrared images"
}
CMMP_IMAGES = ("visible", "generated", "infrared")


def _cmmp_batch() -> TrainBatch:
    g = torch.Generator().manual_seed(7)
    b, h, w = 2, 16, 8
    visible = torch.randn(b, 3, h, w, generator=g)
    mask = (torch.rand(b, 1, h, w, generator=g) < 0.5).float()
    mask[:, :, 0, 0] = 1.0
    views = {"visible": visible, "generated": visible[:, [1, 1, 2]].clone(),
             "infrared": torch.randn(b, 3, h, w, generator=g), "mask": mask}
    return TrainBatch(views=views, labels=torch.arange(b))


def _predictions(batch: TrainBatch, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {name: torch.randn(batch.views[name].shape, generator=g) for name in CMMP_IMAGES}


def _eq1(predicted: dict[str, torch.Tensor], batch: TrainBatch, names: set[str]) -> float:
    """cmmp.txt Eq. 1 over the target images ``names``: ``||Y_M - X_M||_1 / Omega(X_M)``, one mean absolute
    error over every masked value (3 channels per masked pixel) of all targets together (docs/decisions.md,
    "Eq. 1: one mean absolute error over every masked value of the targets")."""
    mask = batch.views["mask"].double()
    total = sum(((predicted[n].double() - batch.views[n].double()).abs() * mask).sum() for n in sorted(names))
    count = mask.sum() * 3 * len(names)
    return float(total / count)


def _pretrainer(**options) -> CMMPPretrainer:
    options = {"patch_size": 2, "arch": "resnet18", "non_local": False, **options}
    return create_method("cmmp_pretrain", generator=torch.Generator().manual_seed(0), **options)


def _step_loss(method: CMMPPretrainer, batch: TrainBatch, predicted: dict[str, torch.Tensor]) -> float:
    calls = []

    def fixed_reconstruct(images, mask):
        calls.append(mask)
        return {k: v.clone() for k, v in predicted.items()}

    method.reconstruct = fixed_reconstruct
    loss = method.training_step(batch).loss
    assert len(calls) == 1 and calls[0] is batch.views["mask"]
    return float(loss)


@pytest.mark.parametrize("target", sorted(TABLE_3_TARGETS))
def test_cmmp_loss_is_eq_1_over_exactly_the_table_3_targets(target):
    """cmmp.txt Sec. 3.4 Eq. 1 and Table 3: the loss is the masked L1 of exactly the row's target images, and a
    change in the infrared prediction moves it exactly when the row reconstructs the infrared image."""
    method = _pretrainer(target=target)
    batch = _cmmp_batch()
    predicted = _predictions(batch, seed=1)
    names = TABLE_3_TARGETS[target]
    assert _step_loss(method, batch, predicted) == pytest.approx(_eq1(predicted, batch, names), rel=1e-5)
    for name in CMMP_IMAGES:
        moved = dict(predicted)
        moved[name] = predicted[name] + 10.0 * batch.views["mask"]  # only masked pixels change
        changed = _step_loss(method, batch, moved) != pytest.approx(_step_loss(method, batch, predicted), rel=1e-6)
        assert changed == (name in names), (target, name)


@pytest.mark.parametrize("build", ["defaults", "paper_config"])
def test_cmmp_default_target_is_visible_and_generated_only(build):
    """cmmp.txt Sec. 3.4: "the loss is used to guide the reconstruction of visible images and generated images";
    Sec. 1: "the reconstruction is limited to the mask segment of the visible image and the generated image,
    excluding the infrared image". Both the constructor's default and the paper configuration's pre-training."""
    if build == "defaults":
        method = _pretrainer()
    else:
        config = CMMP.pretraining(CMMP.paper_config())
        options = CMMPPretrainer.from_config(config, 0) | {"arch": "resnet18", "non_local": False, "pretrained": None}
        method = create_method("cmmp_pretrain", generator=torch.Generator().manual_seed(0), **options)
    batch = _cmmp_batch()
    predicted = _predictions(batch, seed=2)
    assert _step_loss(method, batch, predicted) == pytest.approx(
        _eq1(predicted, batch, {"visible", "generated"}), rel=1e-5)
    # The infrared prediction does not enter the loss.
    far = dict(predicted) | {"infrared": predicted["infrared"] + 100.0}
    assert _step_loss(method, batch, far) == pytest.approx(_step_loss(method, batch, predicted), rel=1e-6)


# =====================================================================================================================
# CAJ ChannelAdapGray (ICCV21_CAJ/ChannelAug.py): what its probability means
# =====================================================================================================================
#
# The released __call__ (the apply-probability lines are commented out there):
#
#     # if random.uniform(0, 1) > self.probability:
#         # return img
#     idx = random.randint(0, 3)
#     if idx == 0/1/2: replicate channel R/G/B into all three
#     else:
#         if random.uniform(0, 1) > self.probability: img = img        (unchanged)
#         else: tmp_img = 0.2989 * R + 0.5870 * G + 0.1140 * B          (gray, replicated)
#
# So the augmentation is always applied; ``probability`` is the chance of gray (rather than the unchanged image)
# within the fourth branch: P(R) = P(G) = P(B) = 1/4, P(gray) = p/4, P(unchanged) = (1 - p)/4.

RELEASED_GRAY = (0.2989, 0.5870, 0.1140)  # ChannelAug.py, ChannelAdapGray's gray branch


def _outcome(out: torch.Tensor, x: torch.Tensor) -> str:
    gray = RELEASED_GRAY[0] * x[0] + RELEASED_GRAY[1] * x[1] + RELEASED_GRAY[2] * x[2]
    candidates = {"R": x[0].expand(3, -1, -1), "G": x[1].expand(3, -1, -1), "B": x[2].expand(3, -1, -1),
                  "gray": gray.expand(3, -1, -1), "unchanged": x}
    found = [name for name, c in candidates.items() if torch.allclose(out, c, atol=1e-6)]
    assert len(found) == 1, found
    return found[0]


def _outcomes(p: float, draws: int) -> dict[str, int]:
    # Channels that differ everywhere, so the five outcomes are five different images.
    x = torch.stack([torch.full((4, 2), -1.5), torch.full((4, 2), 0.25), torch.full((4, 2), 1.75)])
    x = x + torch.linspace(0, 0.1, 8).view(1, 4, 2)
    counts = dict.fromkeys(("R", "G", "B", "gray", "unchanged"), 0)
    t = T.ChannelAdapGray(p=p)
    for seed in range(draws):
        counts[_outcome(t(x, torch.Generator().manual_seed(seed)), x)] += 1
    return counts


def test_channel_adap_gray_p1_always_changes_the_image_and_p0_never_grays():
    """ICCV21_CAJ/ChannelAug.py: ``probability = 1`` never leaves the image unchanged (the fourth branch always
    grays, ``uniform(0, 1) > 1`` is never true); ``probability = 0`` never grays (and leaves about a quarter of
    the images, the fourth branch, unchanged: the released code has no outer apply-probability)."""
    always = _outcomes(1.0, 200)
    assert always["unchanged"] == 0
    assert 30 <= always["gray"] <= 70  # 1/4 of 200 = 50
    never = _outcomes(0.0, 200)
    assert never["gray"] == 0
    assert 30 <= never["unchanged"] <= 70
    for counts in (always, never):
        assert all(30 <= counts[c] <= 70 for c in "RGB")  # each 1/4, whatever p


def test_channel_adap_gray_p_is_the_chance_of_gray_in_the_fourth_branch():
    """ICCV21_CAJ/ChannelAug.py: in the fourth branch, gray with probability ``p`` and unchanged with ``1 - p``;
    over 800 seeds (about 200 fourth-branch draws) the gray share is >= 80% at p = 0.9 and <= 20% at p = 0.1."""
    for p, low, high in ((0.9, 0.8, 1.0), (0.1, 0.0, 0.2)):
        counts = _outcomes(p, 800)
        fourth = counts["gray"] + counts["unchanged"]
        assert 150 <= fourth <= 250
        assert low <= counts["gray"] / fourth <= high, (p, counts)


# =====================================================================================================================
# The smoke sanity bound (docs/decisions.md): rank-1 above 2x and mAP above 1.5x random features, same trials
# =====================================================================================================================

# docs/decisions.md, "The sanity bound: rank-1 above 2x and mAP above 1.5x random features on the same trials".
RANK1_FACTOR = 2
MAP_FACTOR = 1.5
RANDOM = {"rank1": 1.75, "mAP": 4.5}  # exactly representable, as are 2 x 1.75 and 1.5 x 4.5


def _run(rank1: float, mAP: float, random: dict | None = RANDOM, gallery_ids: int = 56) -> dict[str, SettingResult]:
    splits = [{"num_gallery_ids": gallery_ids} | ({"random": random} if random is not None else {})]
    return {"s": SettingResult("s", {"rank1": rank1, "mAP": mAP}, {"splits": splits}, "fp", None)}


def _failing(problems: list[str]) -> set[str]:
    return {metric for metric in ("rank1", "mAP") if any(p.startswith(f"s {metric} = ") for p in problems)}


def test_sanity_bound_at_exactly_the_factor_fails():
    """docs/decisions.md: "rank-1 and mAP above 2 and 1.5 times those of random features": equal is not above."""
    rank1_bound, map_bound = RANK1_FACTOR * RANDOM["rank1"], MAP_FACTOR * RANDOM["mAP"]
    assert (rank1_bound, map_bound) == (3.5, 6.75)
    assert _failing(sanity_problems(_run(rank1_bound, 50.0))) == {"rank1"}
    assert _failing(sanity_problems(_run(50.0, map_bound))) == {"mAP"}
    assert _failing(sanity_problems(_run(rank1_bound, map_bound))) == {"rank1", "mAP"}
    # Between 1x and the factor: still below the bound.
    assert _failing(sanity_problems(_run(1.5 * RANDOM["rank1"], 1.25 * RANDOM["mAP"]))) == {"rank1", "mAP"}


def test_sanity_bound_just_above_both_factors_passes():
    """docs/decisions.md: a run above 2x random rank-1 and 1.5x random mAP clears the bound."""
    rank1 = math.nextafter(RANK1_FACTOR * RANDOM["rank1"], math.inf)
    mAP = math.nextafter(MAP_FACTOR * RANDOM["mAP"], math.inf)
    assert sanity_problems(_run(rank1, mAP)) == []
    assert sanity_problems(_run(RANK1_FACTOR * RANDOM["rank1"] + 0.01, MAP_FACTOR * RANDOM["mAP"] + 0.01)) == []


def test_sanity_bound_without_measured_random_features_uses_100_over_gallery_ids():
    """docs/decisions.md (records made before random features were measured): rank-1 against 100 / gallery
    identities, with the same factor 2 and the same strict "above"."""
    chance = 100 / 50  # 2.0
    assert _failing(sanity_problems(_run(RANK1_FACTOR * chance, 50.0, random=None, gallery_ids=50))) == {"rank1"}
    above = math.nextafter(RANK1_FACTOR * chance, math.inf)
    assert sanity_problems(_run(above, 50.0, random=None, gallery_ids=50)) == []


def test_the_harness_applies_the_decided_factors_by_default():
    """The smoke verdict (reproduce_case) and sanity_problems default to the decided factors 2 and 1.5."""
    for function in (sanity_problems, reproduce_case):
        parameters = inspect.signature(function).parameters
        assert parameters["rank1_factor"].default == 2, function.__name__
        assert parameters["map_factor"].default == 1.5, function.__name__
