"""Features: radiomics (PyRadiomics parameter files, fast cropped extraction, ICC robustness),
deep (torchvision ResNet50), ultrasound (LBP, 2-D texture, BI-RADS morphology)."""
