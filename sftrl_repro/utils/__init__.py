"""Small shared helpers: atomic file writes and parameter validation (no torch)."""

from sftrl_repro.utils.io import write_bytes_atomic, write_csv_atomic, write_json_atomic, write_text_atomic
from sftrl_repro.utils.params import check_choice, check_int

__all__ = [
    "write_bytes_atomic",
    "write_text_atomic",
    "write_json_atomic",
    "write_csv_atomic",
    "check_choice",
    "check_int",
]
