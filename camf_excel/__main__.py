"""Allow `python -m camf_excel`."""

from camf_excel.cli import main

main(prog_name="camf-excel")
