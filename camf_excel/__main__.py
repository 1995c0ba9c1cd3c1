"""Allow `python -m camf_excel`."""

from camf_excel.cli import main

if __name__ == "__main__":  # worker processes re-import the main module: it must not run again
    main(prog_name="camf-excel")
