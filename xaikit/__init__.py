"""xaikit: helpers behind the notebooks that reproduce five papers on the trustworthiness of saliency maps.

Modules: data (datasets and their sources), models (classifiers on [0, 1] images), training (`train`),
attribution (`attribute` over Captum and Zennit), plots, results (numbers and figures on disk),
runtime (seeds, progress, versions), run (papermill runner).
"""
__version__ = "0.1.0"
