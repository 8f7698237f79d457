r"""One input file, whichever format it is in: a CSV (:mod:`stream.sources.csv_files`) or a
JSON export from Prometheus or CloudWatch (:mod:`stream.sources.exports`), told apart by its
first character.

>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "cpu.csv").write_text("timestamp,value\n2024-01-01 00:00:00,1.5\n")
>>> [f.series.tolist() for f in read_input_file(folder / "cpu.csv", "cpu.csv")]
[['cpu']]
"""

from __future__ import annotations

from pathlib import Path

from stream.sources.csv_files import (
    CsvFile,
    ReadOptions,
    SourceError,
    read_csv_file,
    read_head,
    text_encoding,
)
from stream.sources.exports import read_export

__all__ = ["read_input_file"]


def read_input_file(path: Path, relpath: str, options: ReadOptions | None = None) -> list[CsvFile]:
    """Parse one input file: a CSV gives one :class:`CsvFile`, an export one per series.

    Raises :class:`SourceError` when the file cannot be read at all.
    """
    options = ReadOptions() if options is None else options
    head = read_head(path)
    if not head.strip():
        raise SourceError(f"{path}: empty file")
    encoding = text_encoding(path, head, options.encoding)
    text_head = head.decode(encoding, errors="replace").lstrip("\ufeff").lstrip()
    if text_head[:1] in ("{", "["):
        return read_export(path, relpath, encoding, options)
    return [read_csv_file(path, relpath, options, encoding=encoding, head=text_head)]
