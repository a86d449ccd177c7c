"""xaikit: helpers behind the notebooks that reproduce five papers on the trustworthiness of saliency maps.

Modules: data (datasets and their sources, `load_image_folder` for your own images), models (classifiers on
[0, 1] images; `wrap` for your own nn.Module), training (`train`), attribution (`attribute` over Captum and
Zennit), xrai (XRAI, registered as the attribution method "xrai"), plots, results (numbers and figures on
disk), stats (intervals and the one verdict rule), runtime (seeds, progress, versions), run (papermill runner).
The metric families, one module each: augmentation (attribution SSIM under augmentations, 01), faithfulness
and reliability (AOPC, F, Krippendorff's alpha, 02), roar (03), apem (04), pic (05), perturbation_check and
completeness (05's two-pixel Perturbation-epsilon check, IG's completeness); audit puts them behind one call
shape for your own model (notebook 06).
"""
__version__ = "0.1.0"

# attribution does not import xrai (xrai builds on it); importing both here registers "xrai" in
# attribution.METHODS whichever xaikit module is imported first.
from . import attribution as _attribution  # noqa: E402,F401
from . import xrai as _xrai  # noqa: E402,F401
