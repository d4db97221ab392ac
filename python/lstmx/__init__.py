import scipy_openblas32  # noqa: F401  (loads the BLAS the native module links against)
from . import _core
build_info = _core.build_info
