"""Named training and test pipelines of the reference recipes, each built from the shared pieces.

Every builder takes the image size the profile trains at (the paper's size is in its docstring)
and returns :class:`Compose` pipelines (or a named tuple of them for multi-view methods). Each
pipeline starts with :class:`ExpectSize`: the image must already be ``height x width``, resized
once at the Pillow entry with the filter the method declares
(:attr:`reid.methods.base.ReIDMethod.entry_resample`: AGW/CAJ/MSCMNet pre-resize with ``Image.ANTIALIAS`` =
LANCZOS, and CMMP and FF-DML build on their code; BoT, XIV's base, and MITML, CMFT's stated recipe, use torchvision
``Resize``'s bilinear default). The order of the steps mirrors the reference
code, including where it puts channel operations after normalisation and erasing.
"""

from __future__ import annotations

from typing import NamedTuple

from reid.data.transforms.base import Compose, RandomApply, Transform
from reid.data.transforms.channel import ChannelAdapGray, ChannelExchange
from reid.data.transforms.erasing import RandomErasing
from reid.data.transforms.geometry import ExpectSize, Pad, RandomCrop, RandomHorizontalFlip
from reid.data.transforms.mscmnet import ChannelT, MscmnetChannelAdapGray
from reid.data.transforms.normalize import IMAGENET_MEAN, Normalize
from reid.data.transforms.photometric import ColorJitter, GaussianBlur, RandomGrayscale
from reid.data.transforms.rcc import RandomChannelCombination


def _pad_crop_flip(height: int, width: int) -> tuple[Transform, ...]:
    """AGW's geometry: ``Pad(10)``, ``RandomCrop((h, w))``, ``RandomHorizontalFlip()`` (protocols.md sec. 4)."""
    return Pad(10), RandomCrop(height, width), RandomHorizontalFlip(0.5)


def _caj_base(height: int, width: int) -> tuple[Transform, ...]:
    """CAJ's common prefix of all its training pipelines: geometry, ``Normalize``, ``ChannelRandomErasing(0.5)``."""
    return (ExpectSize(height, width), *_pad_crop_flip(height, width), Normalize(), RandomErasing(p=0.5))


def eval_transform(height: int, width: int) -> Compose:
    """Test-time pipeline of every recipe: the pre-resized image, normalised.

    Every reference tests with ``ToPILImage, Resize((h, w)), ToTensor, Normalize``. AGW/CAJ/MSCMNet feed
    images pre-resized with LANCZOS (the Resize is then a no-op); MITML and BoT resize bilinearly there,
    which here happens at the Pillow entry (the method's ``entry_resample``).
    """
    return Compose(ExpectSize(height, width), Normalize())


def agw_train(height: int, width: int) -> Compose:
    """AGW baseline training pipeline (root train.py; protocols.md sec. 4), paper size 288 x 144.

    ``Pad(10), RandomCrop, RandomHorizontalFlip, ToTensor, Normalize``: no erasing, same for both modalities.
    """
    return Compose(ExpectSize(height, width), *_pad_crop_flip(height, width), Normalize())


class CajViews(NamedTuple):
    """CAJ's three training views (dataset returns ``rgb, rgb_exchanged, ir``; protocols.md sec. 5)."""

    rgb: Compose
    rgb_exchanged: Compose
    ir: Compose


def caj_train_views(height: int, width: int) -> CajViews:
    """CAJ training pipelines (ICCV21_CAJ/data_loader.py ``SYSUData``/``RegDBData``), paper size 288 x 144.

    All three: ``Pad(10), RandomCrop, HFlip, ToTensor, Normalize, ChannelRandomErasing(p=0.5)``;
    then ``rgb_exchanged`` adds ``ChannelExchange(gray=2)`` and ``ir`` adds ``ChannelAdapGray(0.5)``,
    both AFTER normalisation and erasing, as the reference orders them. The two visible views are
    applied to the same visible image with independent random draws (own crop, flip, erasing).
    Also CMMP's fine-tuning recipe (cmmp.txt sec. 4.2: the CAJ training framework).
    """
    base = _caj_base(height, width)
    return CajViews(
        rgb=Compose(*base),
        rgb_exchanged=Compose(*base, ChannelExchange(gray=2)),
        ir=Compose(*base, ChannelAdapGray(p=0.5)),
    )


class CmmpViews(NamedTuple):
    """CMMP pre-training views. The generated image is ``exchange(visible(x))``: the same crop and flip."""

    visible: Compose
    exchange: ChannelExchange
    infrared: Compose


def cmmp_pretrain_views(height: int, width: int) -> CmmpViews:
    """CMMP pre-training pipelines (cmmp.txt sec. 3 and 4.2), paper size 288 x 144.

    The paper states "convert the image to 288 x 144, then random cropping and random horizontal
    flipping", and a generated image from CAJ's random channel exchange of the visible image.
    Cropping is CAJ's ``Pad(10) + RandomCrop`` (a crop at the full size needs the padding);
    no erasing (the masking already occludes). The generated image is the channel exchange of
    the augmented visible image, pixel-aligned with it, so the shared mask covers the same
    content in both reconstruction targets (docs/decisions.md).
    """
    view = Compose(ExpectSize(height, width), *_pad_crop_flip(height, width), Normalize())
    return CmmpViews(visible=view, exchange=ChannelExchange(gray=2), infrared=view)


def ffdml_visible_train(
    height: int, width: int, *, rcc: bool = True, cre: bool = True, rcc_before_normalize: bool = False
) -> Compose:
    """FF-DML visible pipeline (ffdml.txt sec. 3.1 and 4.2), paper size 288 x 144.

    AGW geometry, ``Normalize``, CAJ's channel random erasing (CRE [22], p = 0.5), then RCC, where
    CAJ puts its ChannelExchange. ``rcc`` and ``cre`` switch the two augmentations (Table 1's ablation);
    with both off the pipeline is AGW's. ``rcc_before_normalize=True`` moves RCC to before
    ``Normalize`` (on [0, 1] colours) instead: the paper does not say where it sits.
    """
    erasing = (RandomErasing(p=0.5),) if cre else ()
    geometry = (ExpectSize(height, width), *_pad_crop_flip(height, width))
    if not rcc:
        return Compose(*geometry, Normalize(), *erasing)
    if rcc_before_normalize:
        return Compose(*geometry, RandomChannelCombination(), Normalize(), *erasing)
    return Compose(*geometry, Normalize(), *erasing, RandomChannelCombination())


def ffdml_infrared_train(height: int, width: int, *, cre: bool = True) -> Compose:
    """FF-DML infrared pipeline: AGW geometry, ``Normalize``, CAJ channel random erasing (p = 0.5, ``cre``); no RCC.

    RCC recombines the channels of visible images only (ffdml.txt sec. 1 and 3.1).
    """
    return ffdml_visible_train(height, width, rcc=False, cre=cre)


class MscmnetViews(NamedTuple):
    """MSCMNet's four views, in the order the four stems take them (protocols.md sec. 6).

    Paper names (mscmnet.txt eq. 1): rgb1 = X^{V_g} (global), rgb2 = X^{V_c} (channel),
    ir1 = X^{T_g}, ir2 = X^{T_c} (the IR mapping is inferred: ir2 is the view given channel information).
    """

    rgb1: Compose
    rgb2: Compose
    ir1: Compose
    ir2: Compose


def mscmnet_train_views(height: int, width: int) -> MscmnetViews:
    """MSCMNet training pipelines (Hua-XC/MSCMNet build_transforms.py), paper size 384 x 192.

    rgb1: ``RandomGrayscale(0.5)`` first, then the CAJ base (geometry, Normalize, erasing 0.5);
    rgb2: CAJ base + ``ChannelExchange(gray=2)``; ir1: CAJ base + MSCMNet's ``ChannelAdapGray(0.5)``;
    ir2: ``ColorJitter(brightness=0.5)`` first, then CAJ base + ``ChannelT(0.5)``.
    """
    base = _caj_base(height, width)
    head, rest = base[0], base[1:]
    return MscmnetViews(
        rgb1=Compose(head, RandomGrayscale(p=0.5), *rest),
        rgb2=Compose(*base, ChannelExchange(gray=2)),
        ir1=Compose(*base, MscmnetChannelAdapGray(p=0.5)),
        ir2=Compose(head, ColorJitter(brightness=0.5), *rest, ChannelT(p=0.5)),
    )


def xiv_train(height: int, width: int) -> Compose:
    """X-modality (XIV) training pipeline for every modality: the BoT baseline's, paper size 256 x 128.

    xiv.txt builds on Luo et al.'s strong baseline (BoT) and states only the 256 x 128 size. BoT
    (reid-strong-baseline data/transforms/build.py): ``Resize, RandomHorizontalFlip(0.5), Pad(10),
    RandomCrop, ToTensor, Normalize, RandomErasing(0.5, fill = ImageNet mean)``: flip before the
    crop, and erasing with ImageNet-mean fill (CAJ fills 0.4914/0.4822/0.4465).
    """
    return Compose(
        ExpectSize(height, width),
        RandomHorizontalFlip(0.5),
        Pad(10),
        RandomCrop(height, width),
        Normalize(),
        RandomErasing(p=0.5, fill=IMAGENET_MEAN),
    )


def mitml_frame_train(height: int, width: int) -> Compose:
    """MITML per-frame training pipeline (VCM-project233/MITML train.py), paper size 288 x 144.

    ``ToPILImage, Resize((h, w)), Pad(10), RandomCrop, RandomHorizontalFlip, ToTensor, Normalize``,
    called once per frame, so every frame of a clip gets its own crop and flip
    (:func:`reid.data.transforms.transform_clip` with ``shared=False``).
    """
    return Compose(ExpectSize(height, width), *_pad_crop_flip(height, width), Normalize())


class CmftViews(NamedTuple):
    """CMFT per-frame training pipelines per modality."""

    visible: Compose
    infrared: Compose


def cmft_frame_train_views(
    height: int,
    width: int,
    *,
    jitter_brightness: float = 0.5,
    jitter_contrast: float = 0.5,
    blur_p: float = 0.5,
    blur_kernel_size: int = 5,
) -> CmftViews:
    """CMFT per-frame training pipelines (cmft.txt sec. 4.2), paper size 256 x 128.

    The paper: MITML's augmentation (Lin et al. 2022), images resized to 256 x 128, horizontal
    flipping and random erasing; "for infrared images, we add ... colour jittering and Gaussian
    blurring". Parameters of the last two are not given: the keyword defaults are this project's
    choice (docs/decisions.md). Visible: MITML geometry, Normalize, erasing (0.5,
    Zhong fill). Infrared: ``ColorJitter`` and ``RandomApply(GaussianBlur, blur_p)`` on [0, 1]
    pixels first, then the visible steps.
    """
    visible = (ExpectSize(height, width), *_pad_crop_flip(height, width), Normalize(), RandomErasing(p=0.5))
    photometric = (
        ColorJitter(brightness=jitter_brightness, contrast=jitter_contrast),
        RandomApply(GaussianBlur(kernel_size=blur_kernel_size), blur_p),
    )
    return CmftViews(visible=Compose(*visible), infrared=Compose(visible[0], *photometric, *visible[1:]))
