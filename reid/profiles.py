"""Profiles: the paper's sizes, or the same classes, losses and protocols at smoke-test sizes.

``paper`` is the method's :meth:`~reid.methods.base.ReIDMethod.paper_config`. ``smoke`` keeps
everything that defines the method and changes only sizes: the built-in synthetic data, a small
input, a smaller member of the same backbone family (ResNet-18 for ResNet-50), few epochs with
the schedule's shape kept, and fewer evaluation trials. A method adds its own smoke overrides
where its paper sizes need more shrinking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reid.config import RunConfig, apply_overrides
from reid.errors import ConfigError
from reid.methods import method_class

PROFILES = ("paper", "smoke")

SMOKE_OVERRIDES: tuple[str, ...] = (
    "profile='smoke'",
    "data.dataset='synthetic'",
    "data.root=None",
    # A tenth of infrared's intensity from the colour-blind thermal term (the data set's default is half): at
    # 0.25 CAJ's from-scratch smoke run stayed under twice the mAP of random features. 56 test identities give
    # 300+ queries and 56 gallery identities per trial (docs/decisions.md, "A smoke test set that measures").
    "data.options={'seed': 0, 'modality_gap': 0.1, 'num_test_ids': 56}",
    "data.height=64",
    "data.width=32",
    # AGW's and CAJ's batch, 8 identities x 4 pairs; with 4 x 4, CAJ's squared triplet collapsed the features of
    # one seed in two from scratch (docs/decisions.md, "Smoke budget: 8 x 4 batches, warm-up over half the epochs").
    "data.num_ids_per_batch=8",
    "data.num_per_id=4",
    "model.arch='resnet18'",
    "model.pretrained=None",
    "optim.epochs=8",
    # The first epoch at a quarter of the rate (the papers' first epoch runs at a tenth of it).
    "optim.warmup_epochs=4",
    "optim.milestones=(5, 7)",
    "eval.protocol='sysu_mm01'",
    "eval.protocol_options={'mode': 'all', 'shots': 1, 'gallery_sampling': 'official', 'num_trials': 3}",
    "eval.batch_size=64",
    # No test evaluations during smoke training: the selection trajectory is a paper-profile record.
    "eval.every=0",
    # Recordings and CI run on CPU, where autocast is off whatever this says; a smoke run on a GPU exercises the
    # float16 path the paper profile can switch on (docs/decisions.md, "Training precision").
    "amp=True",
)
"""Shared smoke sizes: 8 epochs of the synthetic training set (32 identities, 10 steps of 32 pairs an epoch), ResNet-18
at 64 x 32, from scratch; evaluation on 56 identities, 3 trials."""

SMOKE_STAND_IN: Mapping[str, str] = {
    "sysu_mm01": "synthetic",
    "regdb": "synthetic",
    "llcm": "synthetic",
    "hitsz_vcm": "synthetic_video",
}
"""The built-in synthetic data set a real one's settings run on under the smoke profile (with the setting's own
protocol and options: RegDB has no camera removal and two directions, LLCM its seeded gallery), so that a protocol
bug shows in smoke too."""


def stand_in_dataset(profile: str, dataset: str) -> str:
    """The data set a setting on ``dataset`` trains on under ``profile``: itself (paper), or its synthetic stand-in
    (smoke; a generated data set stands for itself).

    Raises:
        ConfigError: an unknown profile.
    """
    if profile not in PROFILES:
        raise ConfigError(f"profile={profile!r} is not valid; expected one of {', '.join(PROFILES)}")
    if profile == "smoke":
        return SMOKE_STAND_IN.get(dataset, dataset)
    return dataset


def build_config(method: str, profile: str = "smoke", overrides: Sequence[str] = ()) -> RunConfig:
    """The config of ``method`` under ``profile``, then the user's ``key=value`` overrides.

    Raises:
        ConfigError: unknown method, profile or override.
    """
    if profile not in PROFILES:
        raise ConfigError(f"profile={profile!r} is not valid; expected one of {', '.join(PROFILES)}")
    cls = method_class(method)
    config = cls.paper_config()
    if profile == "smoke":
        config = apply_overrides(config, (*SMOKE_OVERRIDES, *cls.smoke_overrides()))
    return apply_overrides(config, overrides)
