"""What an input may hold: the bounds every guard enforces, and the codes of a refusal (no I/O)."""

from __future__ import annotations

# --- limits -----------------------------------------------------------------------------------
# A follow-up workbook is a few hundred rows by tens of columns, well under 1 MB; the largest
# real file of the corpus holds 142,784 cells (140,151 rows x 2 columns, a 12 MB sheet part).

MAX_INPUT_BYTES = 20 * 1024 * 1024
MAX_ZIP_ENTRIES = 2_000
MAX_PART_BYTES = 100 * 1024 * 1024
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_RATIO = 100  # declared size / compressed size, for parts above 1 MB
MAX_SHARED_STRINGS = 1_000_000
MIN_SHARED_STRING_BYTES = 13  # "<si><t/></si>": a table cannot hold more than size / 13 strings
# calamine builds every sheet it reads as a dense grid from A1 to its last valued cell, at
# about 40 bytes a cell with the Python lists (measured: 4 million cells, 168 MB). The whole
# workbook's grids are bounded together: 2 million cells stay near 100 MB.
MAX_CELLS = 2_000_000
# Text calamine would hold: one copy of a shared string per cell that refers to it (a 1 MB
# string in 20,000 cells is 20 GB from a 100 KB file), ODS text times its repetitions, and
# Python's own copy of each. A real follow-up workbook holds about 1 MB.
MAX_TEXT_BYTES = 32 * 1024 * 1024
# Markup the guard parses (measured: 1.1 to 1.3 µs a "<"; an .xls record costs less), so that a
# refusal comes within about 1.3 s; the corpus' tallest sheet has 851,449 and a follow-up
# workbook some 20,000.
MAX_MARKUP = 1_000_000
MAX_CSV_FIELD_CHARS = 1_000_000  # csv's own default (131,072) is under a long pasted comment

DAMAGED, HOSTILE = "FICHIER_ENDOMMAGE", "FICHIER_DANGEREUX"
CHUNK = 64 * 1024


def french_number(value: int) -> str:
    """Write a count the French way, for messages: 2 000 000."""
    return f"{value:,}".replace(",", " ")
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
SAVE_AS_XLSX = "ouvrez-le dans Excel ou LibreOffice et enregistrez-le au format .xlsx"


def part_key(name: str) -> str:
    """Name a part as calamine's look-up does: forward slashes, ASCII letters in lower case."""
    return ascii_lower(name.replace("\\", "/"))


def ascii_lower(text: str) -> str:
    # Rust's to_ascii_lowercase: "É" stays "É" (str.lower() would change it).
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}
