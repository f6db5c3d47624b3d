"""The MLflow mirror: a derived, rebuildable view of ML Metadata in an MLflow tracking store.

ML Metadata stays the source of truth; nothing here writes to it or to the pipeline's artifacts.
Importing this package imports neither TensorFlow nor MLflow: both load inside the functions.
"""
