"""Evaluation protocols: for every trial, which test records are query and which are gallery.

A protocol turns a dataset's test records (:class:`~reid.data.sample.Sample` or
:class:`~reid.data.sample.Tracklet`) into one :class:`EvalSplit` per trial. The split also
carries the ranking options the protocol prescribes (which gallery entries are removed
per query, whether CMC de-duplicates identities) and an ``options`` record of everything
that defines it, so every result can say which protocol, direction, gallery sampling and
permutation source produced it.

Protocols (facts from the reference code, shared notes protocols.md):

* SYSU-MM01 (sec. 1): query = every test image of IR cameras 3 and 6; gallery per trial =
  for every test identity and gallery camera either the first ``shots`` image numbers of
  the official permutation row (``rand_perm_cam.mat``, MATLAB evaluation, sec. 1.2) or one
  image drawn AGW-style with ``random.seed(trial)`` (``process_gallery_sysu``, sec. 1.3).
* RegDB (sec. 2): one trial per trained model; visible -> thermal, or the roles swapped
  (AGW ``--tvsearch``).
* LLCM (sec. 3): query = every test image of the query modality; gallery per trial = one
  image per identity per camera of the other modality drawn with ``random.seed(trial)``.
* HITSZ-VCM (sec. 7): tracklets; IR -> VIS uses ``query_IDX`` rows as query and every other
  test row as gallery, VIS -> IR swaps the two; one deterministic evaluation.
"""

from __future__ import annotations

import inspect
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

import numpy as np

from reid.data.sample import Modality, Sample, Tracklet
from reid.data.sysu_permutations import SysuPermutations
from reid.errors import ConfigError, DatasetError

Record = Sample | Tracklet
_R = TypeVar("_R", Sample, Tracklet)

SYSU_QUERY_CAMERAS = (3, 6)
"""Infrared cameras whose test images form the query set in every SYSU-MM01 mode."""

SYSU_GALLERY_CAMERAS: Mapping[str, tuple[int, ...]] = MappingProxyType({"all": (1, 2, 4, 5), "indoor": (1, 2)})
"""Visible gallery cameras per search mode (official MATLAB evaluation, protocols.md sec. 1.2)."""

SYSU_SHOTS = (1, 10)
SYSU_GALLERY_SAMPLING = ("official", "seeded")
REGDB_DIRECTIONS = ("visible_to_thermal", "thermal_to_visible")
CROSS_DIRECTIONS = ("ir_to_vis", "vis_to_ir")
HITSZ_VCM_MIN_LEN = 12
"""MITML ``VCM(min_seq_len=12)``: shorter test tracklets take part in neither query nor gallery."""


@dataclass(frozen=True)
class EvalSplit:
    """Query and gallery of one evaluation trial, with the ranking options the protocol prescribes.

    Attributes:
        query: query records, in the reference code's order.
        gallery: gallery records of this trial, in the reference code's order.
        trial: 0-based trial index (RegDB: the idx file number minus one).
        removal: which gallery entries the ranking drops per query: ``"sysu"`` (IR camera 3
            never sees visible camera 2), ``"same_id_same_cam"`` or ``"none"``; passed to
            ``reid.eval.ranking.rank_metrics``.
        dedup_cmc: whether CMC counts each identity once (first occurrence), as the SYSU-MM01
            and LLCM evaluations do.
        options: everything that defines the split (protocol name, mode, shots, direction,
            gallery sampling and its permutation source or seed, ...), read-only.
    """

    query: tuple[Record, ...]
    gallery: tuple[Record, ...]
    trial: int
    removal: str
    dedup_cmc: bool
    options: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A read-only view: a split is shared by every result computed from it.
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))


def pids(records: Sequence[Record]) -> np.ndarray:
    """Identities of ``records`` as an int64 array ``[N]`` (the ranking's label input)."""
    return np.fromiter((r.pid for r in records), dtype=np.int64, count=len(records))


def camids(records: Sequence[Record]) -> np.ndarray:
    """Cameras of ``records`` as an int64 array ``[N]`` (the ranking's camera input)."""
    return np.fromiter((r.camid for r in records), dtype=np.int64, count=len(records))


class _HasTest(Protocol):
    test: Sequence[Record]


# ---------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------


def _check_choice(name: str, value: object, valid: Sequence[object]) -> None:
    if value not in valid:
        raise ConfigError(f"{name}={value!r} is not valid; expected one of {', '.join(repr(v) for v in valid)}")


def _check_count(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise ConfigError(f"{name}={value!r} is not valid; expected an integer {bound}")


def agw_id_order(pid: int) -> str:
    """Sort key of an identity as AGW/CAJ/MSCMNet iterate them: the ``"%04d"`` folder name.

    ``process_gallery_sysu`` / ``process_gallery_llcm`` (protocols.md sec. 1.3, 3) run
    ``for id in sorted(ids)`` over zero-padded strings; for ids below 10,000 this is
    ascending numeric order, and using the string keeps it exact beyond.
    """
    return f"{pid:04d}"


def _group(records: Sequence[_R]) -> dict[tuple[int, int], list[_R]]:
    groups: dict[tuple[int, int], list[_R]] = {}
    for record in records:
        groups.setdefault((record.pid, record.camid), []).append(record)
    return groups


def agw_seeded_gallery(records: Sequence[Sample], cameras: Sequence[int], rng: random.Random) -> tuple[Sample, ...]:
    """One image per identity per camera, drawn exactly as AGW's gallery sampling draws it.

    Mirrors ``process_gallery_sysu`` (AGW/CAJ ``data_manager.py``, protocols.md sec. 1.3) and
    ``process_gallery_llcm`` (MSCMNet copy, sec. 3): after ``random.seed(trial)``, for every
    identity in ``sorted`` ``"%04d"`` order and every camera in ``cameras`` order, if the
    identity has images in that camera, ``random.choice`` over that folder's file list
    sorted as full path strings. Within one folder all paths share the folder prefix, so
    the order is the file-name order (for SYSU-MM01's ``NNNN.jpg`` names, instance order).
    An identity without images in a camera consumes no random number, as in the reference
    (it skips folders that do not exist).

    Args:
        records: candidate gallery images (test identities, gallery modality).
        cameras: gallery cameras in the reference's iteration order.
        rng: seeded by the caller with the trial index (``random.Random(trial)`` yields the
            same stream as the reference's module-level ``random.seed(trial)``).

    Returns:
        The chosen images in drawing order.
    """
    groups = _group(records)
    chosen = []
    for pid in sorted({r.pid for r in records}, key=agw_id_order):
        for camid in cameras:
            folder = groups.get((pid, camid))
            if folder:
                chosen.append(rng.choice(sorted(folder, key=lambda s: s.path)))
    return tuple(chosen)


def agw_query_order(records: Sequence[Sample], cameras: Sequence[int]) -> tuple[Sample, ...]:
    """``records`` of ``cameras`` in AGW's query order: identity (``"%04d"``), camera, path.

    Mirrors ``process_query_sysu`` / ``process_query_llcm`` (protocols.md sec. 1.3, 3).
    The order changes no metric except through ties; it is kept so that features line up
    with the reference's query lists.
    """
    rank = {camid: index for index, camid in enumerate(cameras)}
    selected = [r for r in records if r.camid in rank]
    return tuple(sorted(selected, key=lambda s: (agw_id_order(s.pid), rank[s.camid], s.path)))


# ---------------------------------------------------------------------------------------
# SYSU-MM01
# ---------------------------------------------------------------------------------------


def _check_sysu_records(test: Sequence[Sample]) -> None:
    for sample in test:
        if sample.camid not in (1, 2, 3, 4, 5, 6):
            raise DatasetError(sample.path, f"a SYSU-MM01 camera 1..6, got {sample.camid}", field="camid")
        expected = Modality.INFRARED if sample.camid in SYSU_QUERY_CAMERAS else Modality.VISIBLE
        if sample.modality is not expected:
            raise DatasetError(
                sample.path, f"modality {expected.value} for SYSU-MM01 camera {sample.camid}", field="modality"
            )


def sysu_official_gallery(
    test: Sequence[Sample], cameras: Sequence[int], permutations: SysuPermutations, trial: int, shots: int
) -> tuple[Sample, ...]:
    """The official gallery of one trial: the first ``shots`` permuted images per identity and camera.

    Official MATLAB evaluation (protocols.md sec. 1.2): for each test identity (every
    identity of ``test``, query cameras included) and each gallery camera take
    ``rand_perm_cam{cam}{id}(trial, 1:number_shot)``; an identity with fewer images
    contributes all of them, one without images in that camera none.
    Gallery order: identity ascending, camera in ``cameras`` order, permutation order.

    Raises:
        DatasetError: an image number the permutation names is absent from ``test``, a test
            image lacks its ``instance`` number, or the permutation's image count for a
            (camera, identity) differs from the test set's: the file describes another dataset.
    """
    by_key: dict[tuple[int, int, int], Sample] = {}
    for sample in (s for s in test if s.camid in cameras):
        if sample.instance is None:
            raise DatasetError(sample.path, "the image number (NNNN.jpg) the official permutations index", "instance")
        key = (sample.camid, sample.pid, sample.instance)
        if key in by_key:
            raise DatasetError(sample.path, f"one image per number; {by_key[key].path} has the same", "instance")
        by_key[key] = sample
    held = Counter((camid, pid) for camid, pid, _ in by_key)
    counts = permutations.counts()
    for (camid, pid), n in sorted(held.items()):
        if counts.get((camid, pid), 0) != n:
            raise DatasetError(
                permutations.source,
                f"a permutation of the {n} images the test set holds for camera {camid}, id {pid}; "
                f"got {counts.get((camid, pid), 0)}",
                field=f"rand_perm_cam{{{camid}}}{{{pid}}}",
            )
    gallery = []
    for pid in sorted({s.pid for s in test}):
        for camid in cameras:
            for number in permutations.instances(camid, pid, trial, shots):
                sample = by_key.get((camid, pid, number))
                if sample is None:
                    raise DatasetError(
                        permutations.source,
                        f"image numbers present in the test set; camera {camid}, id {pid}, "
                        f"image {number:04d} is not there",
                        field=f"rand_perm_cam{{{camid}}}{{{pid}}} trial {trial + 1}",
                    )
                gallery.append(sample)
    return tuple(gallery)


def sysu_mm01_trials(
    test: Sequence[Sample],
    *,
    mode: str = "all",
    shots: int = 1,
    gallery_sampling: str = "official",
    permutations: SysuPermutations | None = None,
    num_trials: int = 10,
) -> list[EvalSplit]:
    """SYSU-MM01 evaluation trials (protocols.md sec. 1.2, 1.3).

    Query = every test image of IR cameras 3 and 6 (the same tuple in every trial and mode).
    Gallery cameras: 1, 2, 4, 5 (``mode="all"``) or 1, 2 (``mode="indoor"``). Ranking:
    removal ``"sysu"`` (camera-3 queries never see camera-2 gallery images) and
    identity-de-duplicated CMC, as the official and the AGW evaluations do.

    Args:
        test: every image of the test identities in all six cameras, with ``instance`` set
            when ``gallery_sampling="official"``.
        mode: ``"all"`` or ``"indoor"`` search.
        shots: gallery images per identity and camera: 1 (single-shot) or 10 (multi-shot).
        gallery_sampling: ``"official"``: the first ``shots`` image numbers of the trial's row of
            ``permutations`` (MATLAB evaluation); ``"seeded"``: AGW/CAJ's one image per identity
            and camera drawn after ``random.seed(trial)`` (single-shot only, as in AGW).
        permutations: the official ``rand_perm_cam.mat`` (:func:`reid.data.sysu_permutations.load_rand_perm_cam`);
            required for ``"official"``, refused for ``"seeded"``.
        num_trials: trials 0..num_trials-1 (10 in every reference; at most the permutation's rows).

    Returns:
        One split per trial.

    Raises:
        ConfigError: an option outside the valid values.
        DatasetError: test records inconsistent with SYSU-MM01 or with the permutations.
    """
    _check_choice("mode", mode, tuple(SYSU_GALLERY_CAMERAS))
    _check_choice("shots", shots, SYSU_SHOTS)
    _check_choice("gallery_sampling", gallery_sampling, SYSU_GALLERY_SAMPLING)
    if gallery_sampling == "official":
        if permutations is None:
            raise ConfigError(
                "gallery_sampling='official' needs permutations: the official rand_perm_cam.mat "
                "(reid.data.sysu_permutations.load_rand_perm_cam)"
            )
        _check_count("num_trials", num_trials, 1, permutations.num_trials)
    else:
        if permutations is not None:
            raise ConfigError("permutations are used only with gallery_sampling='official'; pass None for 'seeded'")
        if shots != 1:
            raise ConfigError(
                "gallery_sampling='seeded' is single-shot only (AGW's process_gallery_sysu draws one image); "
                "use gallery_sampling='official' with the official permutations for shots=10"
            )
        _check_count("num_trials", num_trials, 1)
    _check_sysu_records(test)
    query = agw_query_order(test, SYSU_QUERY_CAMERAS)
    if not query:
        raise ConfigError("the SYSU-MM01 test records hold no image of the query cameras 3 and 6")
    cameras = SYSU_GALLERY_CAMERAS[mode]
    base: dict[str, object] = {
        "protocol": "sysu_mm01",
        "mode": mode,
        "shots": shots,
        "query_cameras": SYSU_QUERY_CAMERAS,
        "gallery_cameras": cameras,
        "gallery_sampling": gallery_sampling,
        "num_trials": num_trials,
    }
    splits = []
    for trial in range(num_trials):
        if permutations is not None:
            gallery = sysu_official_gallery(test, cameras, permutations, trial, shots)
            options = base | {"permutation_source": permutations.source, "permutation_row": trial}
        else:
            gallery = agw_seeded_gallery(test, cameras, random.Random(trial))
            options = base | {"seed": trial, "rng": "random.Random(seed).choice, AGW process_gallery_sysu"}
        if not gallery:
            raise ConfigError(f"the SYSU-MM01 test records hold no image of the gallery cameras {cameras}")
        splits.append(EvalSplit(query, gallery, trial, removal="sysu", dedup_cmc=True, options=options))
    return splits


# ---------------------------------------------------------------------------------------
# RegDB
# ---------------------------------------------------------------------------------------


class _RegDBLike(Protocol):
    test: Sequence[Sample]
    trial: int


def regdb_trial(dataset: _RegDBLike, *, direction: str = "visible_to_thermal") -> EvalSplit:
    """The RegDB split of the dataset's trial (protocols.md sec. 2).

    ``visible_to_thermal``: query = the trial's test visible images, gallery = its test
    thermal images (AGW default). ``thermal_to_visible`` swaps the roles only, as AGW's
    ``--tvsearch`` does: every image keeps its own modality, so its feature still comes
    from its own modality's stem (flipping the loaders' modality instead feeds visible
    images through the thermal stem, the error behind the low IR->VIS numbers of
    protocols.md sec. 10). Nothing is removed and CMC is not de-duplicated (``eval_regdb``).

    Args:
        dataset: one trial of RegDB: ``test`` (that trial's idx files, order kept) and
            ``trial`` (the idx file number, 1..10).
        direction: ``"visible_to_thermal"`` or ``"thermal_to_visible"``.

    Raises:
        ConfigError: an unknown direction, a trial number below 1, or a modality with no test image.
    """
    _check_choice("direction", direction, REGDB_DIRECTIONS)
    _check_count("dataset.trial", dataset.trial, 1)
    visible = tuple(s for s in dataset.test if s.modality is Modality.VISIBLE)
    thermal = tuple(s for s in dataset.test if s.modality is Modality.INFRARED)
    if not visible or not thermal:
        raise ConfigError(
            f"RegDB trial {dataset.trial}: test set has {len(visible)} visible and {len(thermal)} thermal images; "
            "both must be non-empty"
        )
    query, gallery = (visible, thermal) if direction == "visible_to_thermal" else (thermal, visible)
    options = {"protocol": "regdb", "direction": direction, "regdb_trial": dataset.trial}
    return EvalSplit(query, gallery, dataset.trial - 1, removal="none", dedup_cmc=False, options=options)


# ---------------------------------------------------------------------------------------
# LLCM
# ---------------------------------------------------------------------------------------


def _modalities(direction: str) -> tuple[Modality, Modality]:
    """(query modality, gallery modality) of a cross-modality direction."""
    if direction == "ir_to_vis":
        return Modality.INFRARED, Modality.VISIBLE
    return Modality.VISIBLE, Modality.INFRARED


def llcm_trials(test: Sequence[Sample], *, direction: str = "ir_to_vis", num_trials: int = 10) -> list[EvalSplit]:
    """LLCM evaluation trials (protocols.md sec. 3; MSCMNet ``process_query_llcm`` / ``process_gallery_llcm``).

    Query = every test image of the query modality (NIR for ``ir_to_vis``, the reference's
    ``test_mode [1, 2]``; VIS for ``vis_to_ir``), ordered by identity, camera, path.
    Gallery of trial ``t`` = one image per identity per camera of the other modality drawn
    AGW-style after ``random.seed(t)`` (:func:`agw_seeded_gallery`), identities in
    ``"%04d"`` order and cameras ascending, as the reference's camera lists
    (``test_vis/cam1..cam9``, ``test_nir/cam1, cam2, cam4..cam9``) are. Ranking: same identity
    in the same camera removed, identity-de-duplicated CMC (``eval_llcm``).

    Args:
        test: every image of the LLCM test identities, both modalities.
        direction: ``"ir_to_vis"`` or ``"vis_to_ir"``.
        num_trials: trials 0..num_trials-1 (10 in the reference).

    Raises:
        ConfigError: an option outside the valid values, or a modality with no test image.
    """
    _check_choice("direction", direction, CROSS_DIRECTIONS)
    _check_count("num_trials", num_trials, 1)
    query_modality, gallery_modality = _modalities(direction)
    query_records = [s for s in test if s.modality is query_modality]
    candidates = [s for s in test if s.modality is gallery_modality]
    if not query_records or not candidates:
        raise ConfigError(
            f"LLCM test set has {len(query_records)} {query_modality.value} and {len(candidates)} "
            f"{gallery_modality.value} images; both must be non-empty"
        )
    query = agw_query_order(query_records, sorted({s.camid for s in query_records}))
    cameras = tuple(sorted({s.camid for s in candidates}))
    splits = []
    for trial in range(num_trials):
        gallery = agw_seeded_gallery(candidates, cameras, random.Random(trial))
        options = {
            "protocol": "llcm",
            "direction": direction,
            "gallery_sampling": "seeded",
            "seed": trial,
            "rng": "random.Random(seed).choice, MSCMNet process_gallery_llcm",
            "shots": 1,
            "num_trials": num_trials,
        }
        splits.append(EvalSplit(query, gallery, trial, removal="same_id_same_cam", dedup_cmc=True, options=options))
    return splits


# ---------------------------------------------------------------------------------------
# HITSZ-VCM
# ---------------------------------------------------------------------------------------


class _VideoLike(Protocol):
    name: str
    test: Sequence[Tracklet]
    query_rows: Sequence[int]


def hitsz_vcm_split(
    dataset: _VideoLike, *, direction: str = "ir_to_vis", min_len: int = HITSZ_VCM_MIN_LEN
) -> EvalSplit:
    """The HITSZ-VCM split (protocols.md sec. 7; MITML ``data_manager.VCM``).

    ``ir_to_vis``: query = the test rows named by ``query_rows`` (``query_IDX.txt``, the IR
    query tracklets) in that order, gallery = every other test row in row order.
    ``vis_to_ir``: the two sets swap roles. MITML splits first and then drops tracklets
    shorter than ``min_seq_len`` from both sets; this function does the same, so it gives
    the reference's sets whether or not the loader already dropped them. Ranking: same
    identity in the same camera removed, plain (not de-duplicated) CMC, one evaluation.

    Args:
        dataset: ``test`` tracklets and 0-based ``query_rows`` into them.
        direction: ``"ir_to_vis"`` or ``"vis_to_ir"``.
        min_len: shortest tracklet kept, in frames (MITML default 12; 0 keeps all).

    Raises:
        ConfigError: an option outside the valid values, or an empty query or gallery.
        DatasetError: ``query_rows`` out of range, repeated, or naming a visible tracklet.
    """
    _check_choice("direction", direction, CROSS_DIRECTIONS)
    _check_count("min_len", min_len, 0)
    test = tuple(dataset.test)
    rows = tuple(dataset.query_rows)
    # The dataset's root names the files at fault when the loader keeps one; else its name.
    where = str(getattr(dataset, "root", dataset.name))
    if len(set(rows)) != len(rows):
        raise DatasetError(where, "distinct row numbers (query_IDX.txt lists each query tracklet once)", "query_rows")
    for row in rows:
        if not 0 <= row < len(test):
            raise DatasetError(where, f"0-based rows of the {len(test)} test tracklets, got {row}", "query_rows")
        if test[row].modality is not Modality.INFRARED:
            found = test[row].modality.value
            raise DatasetError(where, f"infrared query tracklets; row {row} is {found}", "query_rows")
    chosen = set(rows)
    ir_rows = tuple(test[r] for r in rows if len(test[r]) >= min_len)
    other_rows = tuple(t for r, t in enumerate(test) if r not in chosen and len(t) >= min_len)
    query, gallery = (ir_rows, other_rows) if direction == "ir_to_vis" else (other_rows, ir_rows)
    if not query or not gallery:
        raise ConfigError(
            f"HITSZ-VCM {direction}: {len(query)} query and {len(gallery)} gallery tracklets of at least "
            f"{min_len} frames; both must be non-empty"
        )
    options = {"protocol": "hitsz_vcm", "direction": direction, "min_len": min_len}
    return EvalSplit(query, gallery, 0, removal="same_id_same_cam", dedup_cmc=False, options=options)


# ---------------------------------------------------------------------------------------
# Dispatcher
# ---------------------------------------------------------------------------------------


def _test_of(source: _HasTest | Sequence[Record]) -> tuple[Record, ...]:
    return tuple(source.test) if hasattr(source, "test") else tuple(source)


def _sysu(source: Any, **options: Any) -> list[EvalSplit]:
    return sysu_mm01_trials(_test_of(source), **options)


def _regdb(source: Any, **options: Any) -> list[EvalSplit]:
    return [regdb_trial(source, **options)]


def _llcm(source: Any, **options: Any) -> list[EvalSplit]:
    return llcm_trials(_test_of(source), **options)


def _hitsz_vcm(source: Any, **options: Any) -> list[EvalSplit]:
    return [hitsz_vcm_split(source, **options)]


_PROTOCOLS: Mapping[str, tuple[Callable[..., list[EvalSplit]], Callable[..., Any]]] = MappingProxyType(
    {
        "sysu_mm01": (_sysu, sysu_mm01_trials),
        "regdb": (_regdb, regdb_trial),
        "llcm": (_llcm, llcm_trials),
        "hitsz_vcm": (_hitsz_vcm, hitsz_vcm_split),
    }
)


def protocol_options(name: str) -> tuple[str, ...]:
    """The keyword options protocol ``name`` accepts."""
    _check_choice("protocol", name, tuple(_PROTOCOLS))
    signature = inspect.signature(_PROTOCOLS[name][1])
    return tuple(p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY)


def build_trials(name: str, source: Any, **options: Any) -> list[EvalSplit]:
    """Every evaluation split of protocol ``name``.

    Args:
        name: ``"sysu_mm01"``, ``"regdb"``, ``"llcm"`` or ``"hitsz_vcm"``.
        source: the dataset (an object with ``test``; RegDB also ``trial``, HITSZ-VCM also
            ``query_rows``), or for SYSU-MM01 and LLCM the test records themselves.
        **options: the protocol's keyword options (see :func:`protocol_options`).

    Returns:
        One split per trial (RegDB and HITSZ-VCM: a single split).

    Raises:
        ConfigError: an unknown protocol or option, listing the valid ones.
    """
    valid = protocol_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(f"protocol {name!r} has no option {', '.join(unknown)}; valid options: {', '.join(valid)}")
    return _PROTOCOLS[name][0](source, **options)
