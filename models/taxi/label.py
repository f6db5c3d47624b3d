"""The taxi label's definition, TF-free so tools and tests can read it without TensorFlow:
a trip is a "big tipper" when tips > BIG_TIP_FRACTION * fare."""

TIPS_KEY = "tips"
FARE_KEY = "fare"
BIG_TIP_FRACTION = 0.2
