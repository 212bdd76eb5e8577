"""The side-by-side benchmark runs on its short setting and reads right.

Only the shape of its table and the correctness of every read are checked
here; whether the goals were met depends on the machine and is printed.
"""

from __future__ import annotations

import re

import pytest

from tests.bench import compare
from tests.servers_redis import RedisServer

pytestmark = pytest.mark.redis


def test_quick_compare_prints_every_row_and_no_wrong_read(
    redis_clean: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    status = compare.main(["--quick", "--url", redis_clean.url])
    table = capsys.readouterr().out
    assert status == 0, table
    for threads in compare.THREADS:
        assert re.search(rf"^redis +{threads} +[\d,]+ +[\d,]+ ", table, re.M), table
    assert re.search(r"^memory +16 +[\d,]+ ", table, re.M), table
    assert re.search(r"^asyncio +1000 .*longest loop stall [\d.]+ ms", table, re.M)
    assert re.search(r"^filter .*same result: yes", table, re.M), table
    assert len(re.findall(r"^  \[(met|NOT met|not measured)\] ", table, re.M)) == 6
    assert "wrong reads: 0" in table
    assert "failed calls: 0" in table
    assert not list(redis_clean.client().scan_iter(match="cmp*"))
