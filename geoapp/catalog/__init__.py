"""The layer catalogue: declarations in ``layers/`` and the layers built from them."""
