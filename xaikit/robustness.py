"""Deprecated name of `xaikit.augmentation` (attribution SSIM under augmentations, Erdem & Mazurek 2021), kept
so that older code and the committed executed notebooks still run: importing it gives that very module."""
import sys
import warnings

from . import augmentation

warnings.warn("xaikit.robustness is now xaikit.augmentation (attribution SSIM under augmentations); import that",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = augmentation
