"""Deprecated name, kept so that older code and the committed executed notebooks still run: the two-pixel
Perturbation-epsilon check (Kapishnikov et al. 2019, Fig. 4) is now `xaikit.perturbation_check`, IG's
completeness on a model `xaikit.completeness`."""
import warnings

from .completeness import *  # noqa: F401,F403
from .perturbation_check import *  # noqa: F401,F403
from .perturbation_check import NODES, PEAK  # noqa: F401

warnings.warn("xaikit.sanity is split into xaikit.perturbation_check (the two-pixel Perturbation-epsilon check) "
              "and xaikit.completeness (IG's completeness on a model); import those", DeprecationWarning,
              stacklevel=2)
