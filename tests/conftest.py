"""Shared pytest set-up: keep torch (where a test uses it) to one thread per xdist worker."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
