"""How many rows a send worker claims at a time (delivery/pacing.py's BatchSizer)."""

from __future__ import annotations

from newsletter.delivery.pacing import FIRST_BATCH, BatchSizer


def test_the_first_batch_is_small_until_the_pace_is_known() -> None:
    assert BatchSizer(50).size() == FIRST_BATCH
    assert BatchSizer(3).size() == 3  # never more than the setting


def test_a_slow_server_gets_about_a_second_of_work_per_batch() -> None:
    sizer = BatchSizer(50)
    sizer.observe(10, 0.5)  # 50 ms a message: a remote provider
    assert sizer.size() == 20


def test_a_fast_server_gets_the_whole_setting() -> None:
    sizer = BatchSizer(50)
    sizer.observe(10, 0.002)
    assert sizer.size() == 50


def test_a_very_slow_server_still_gets_one_row() -> None:
    sizer = BatchSizer(50)
    sizer.observe(1, 5.0)
    assert sizer.size() == 1


def test_the_pace_follows_the_recent_batches() -> None:
    sizer = BatchSizer(100)
    sizer.observe(10, 1.0)  # 100 ms a message
    assert sizer.size() == 10
    sizer.observe(20, 0.2)  # now 10 ms: the average of the two, 55 ms
    assert sizer.size() == 18
    sizer.observe(0, 3.0)  # a batch that sent nothing says nothing about the pace
    assert sizer.size() == 18
