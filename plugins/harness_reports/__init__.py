"""Reports people look at: learning curves, confusion matrices, misclassified digits, comparisons."""
