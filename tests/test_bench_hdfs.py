"""The HDFS read benchmark runs (on a short setting), so it cannot rot."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bench import hdfs_read

pytestmark = pytest.mark.hdfs


def test_hdfs_read_benchmark_runs_and_both_sides_agree(
    hdfs_cluster: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    result = hdfs_read.main(["--url", hdfs_cluster.url, "--records", "40"])
    out = capsys.readouterr().out
    assert result["records"] == 40 and result["pool"] == 8
    assert result["ours_total_s"] > 0 and result["plain_total_s"] > 0
    assert "ratio" in out and "goal: at least 4x" in out
