"""The pipeline graph: the only package that imports the TFX DSL."""
