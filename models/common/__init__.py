"""Declaration-driven model code: preprocessing and the Keras model for any project.yaml."""
