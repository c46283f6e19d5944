"""Pathways: the end-to-end chains that turn one patient's images (+ clinical data) into features
and a prediction. ``us``: one ultrasound frame + a seed click → grow-cut → ROI crop → ResNet50 deep
features + handcrafted features → DLR signature (LASSO logistic) → nomogram."""
