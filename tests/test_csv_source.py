"""CSV source: timestamps are epoch seconds when numbers, ISO 8601 when text, in either order."""

from __future__ import annotations

import numpy as np
import pytest

from stream.sources.csv_files import read_csv_file

ISO_2024 = 1704067200.0  # 2024-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            ["2024-01-01 00:00:00", " 2024-01-01T00:05:00Z ", str(ISO_2024 + 600), "soon"],
            [ISO_2024, ISO_2024 + 300, ISO_2024 + 600],
        ),
        (
            [str(ISO_2024), " 1704067500 ", "2024-01-01 00:10:00", "1e400"],
            [ISO_2024, ISO_2024 + 300, ISO_2024 + 600],
        ),
    ],
    ids=["iso-first", "epoch-first"],
)
def test_mixed_timestamp_columns_parse_each_row(tmp_path, rows, expected):
    path = tmp_path / "mixed.csv"
    path.write_text("timestamp,value\n" + "".join(f"{row},1.0\n" for row in rows))
    parsed = read_csv_file(path, "mixed.csv")
    np.testing.assert_array_equal(parsed.timestamps, expected)
    assert [(row.line, row.reason) for row in parsed.rejected] == [(5, "bad_timestamp")]
