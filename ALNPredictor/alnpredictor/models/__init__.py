"""Models: signature recipes (svm-rbf, mri-yu2021, lasso-logistic, nomogram, published linear
signatures), Youden cut-off, and safe model bundles (skops, no pickle)."""
