"""User model code: features, preprocessing and the Keras model, referenced by dotted path."""
