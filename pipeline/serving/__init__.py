"""TF Serving: version layout and atomic publishing, warmup, server configs and a client."""
