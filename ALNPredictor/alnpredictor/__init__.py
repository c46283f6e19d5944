"""ALNPredictor core: preoperative axillary lymph node metastasis (ALNM) prediction.

Pure Python (no Qt, no MRML). Layers, lowest first (docs/architecture.md):
``study`` (the vocabulary), ``settings`` (typed pathway settings), ``runtime``, ``jsonsafe`` →
``imaging`` → ``features`` → ``stats`` → ``models`` → ``report`` → ``cohort`` (manifests; the runner
takes the per-case function) → ``pathways`` (THE orchestration of one patient) → ``cli``, ``demo``
(thin front doors). ``synthetic`` holds the data generators. The 3D Slicer module ``ALNPredictor``
is a thin layer over this package (its Logic converts MRML nodes and calls the pathways).
"""

__version__ = "0.1.0"
