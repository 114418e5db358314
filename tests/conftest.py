import os

# CUDA code is tested on the numba simulator unless a real GPU run is asked for explicitly.
if os.environ.get("SSD_EDU_REAL_GPU") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
