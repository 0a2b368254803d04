"""Image augmentations of the five papers and their baselines, on CHW float tensors with an explicit generator.

Entry from Pillow: ``to_tensor(resize(image, (h, w), resample=method.entry_resample))``; then a
recipe's pipeline ``t(x, generator)``. Every random draw comes from the ``torch.Generator``
passed in; torch's global generator is never used.
"""

from reid.data.transforms.base import Compose, RandomApply, Transform, check_image
from reid.data.transforms.channel import (
    CAJ_GRAY_WEIGHTS,
    ChannelAdapGray,
    ChannelExchange,
    luminance,
    replicate_channel,
)
from reid.data.transforms.draws import derive_generator
from reid.data.transforms.erasing import ZHONG_FILL, RandomErasing
from reid.data.transforms.geometry import ExpectSize, Pad, RandomCrop, RandomHorizontalFlip, hflip
from reid.data.transforms.mscmnet import ChannelT, MscmnetChannelAdapGray
from reid.data.transforms.normalize import IMAGENET_MEAN, IMAGENET_STD, Normalize
from reid.data.transforms.photometric import (
    PIL_GRAY_WEIGHTS,
    ColorJitter,
    GaussianBlur,
    RandomGrayscale,
    adjust_brightness,
    adjust_contrast,
)
from reid.data.transforms.pil import BILINEAR, LANCZOS, resize, to_tensor
from reid.data.transforms.rcc import RCC_GRAY, RCC_ORDERS, RandomChannelCombination
from reid.data.transforms.recipes import (
    CajViews,
    CmftViews,
    CmmpViews,
    MscmnetViews,
    agw_train,
    caj_train_views,
    cmft_frame_train_views,
    cmmp_pretrain_views,
    eval_transform,
    ffdml_infrared_train,
    ffdml_visible_train,
    mitml_frame_train,
    mscmnet_train_views,
    xiv_train,
)
from reid.data.transforms.video import transform_clip

__all__ = [
    "BILINEAR",
    "CAJ_GRAY_WEIGHTS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LANCZOS",
    "PIL_GRAY_WEIGHTS",
    "RCC_GRAY",
    "RCC_ORDERS",
    "ZHONG_FILL",
    "CajViews",
    "ChannelAdapGray",
    "ChannelExchange",
    "ChannelT",
    "CmftViews",
    "CmmpViews",
    "ColorJitter",
    "Compose",
    "ExpectSize",
    "GaussianBlur",
    "MscmnetChannelAdapGray",
    "MscmnetViews",
    "Normalize",
    "Pad",
    "RandomApply",
    "RandomChannelCombination",
    "RandomCrop",
    "RandomErasing",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "Transform",
    "adjust_brightness",
    "adjust_contrast",
    "agw_train",
    "caj_train_views",
    "check_image",
    "derive_generator",
    "cmft_frame_train_views",
    "cmmp_pretrain_views",
    "ffdml_infrared_train",
    "ffdml_visible_train",
    "hflip",
    "luminance",
    "mitml_frame_train",
    "mscmnet_train_views",
    "replicate_channel",
    "resize",
    "eval_transform",
    "to_tensor",
    "transform_clip",
    "xiv_train",
]
