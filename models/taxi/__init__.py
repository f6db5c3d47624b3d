"""The bundled taxi example: its declaration (project.yaml) and its own label rule."""
