"""Model layer: known models, where they live, safe checkpoint loading, downloads, devices, tiling, and our
own implementations of official architectures (one file per architecture). Importing this package is cheap;
torch is imported only when a model is loaded."""
