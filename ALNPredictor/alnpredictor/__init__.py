"""ALNPredictor core: preoperative axillary lymph node metastasis (ALNM) prediction.

Pure Python (no Qt, no MRML). Sub-packages, lowest layer first:
``imaging`` (io, preprocess, segment, propagate) → ``features`` (radiomics, deep, ultrasound)
→ ``stats`` → ``models`` → ``report`` → ``cohort`` → ``demo`` → ``cli``.
The 3D Slicer module ``ALNPredictor`` is a thin layer over this package.
"""

__version__ = "0.1.0"
