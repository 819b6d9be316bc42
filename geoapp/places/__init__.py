"""Places people name: towns (大字・町丁目), the named features of the public layers, reports."""
