import datetime as dt

import numpy as np
import pytest

from ecoresp_core.errors import InputError
from ecoresp_core.common.timeaxis import (decode_cf_time, expand_dates_spec, format_date, parse_date,
                                   time_step)


@pytest.mark.parametrize("text,expected", [
    ("1989", dt.datetime(1989, 1, 1)),
    ("1989-07", dt.datetime(1989, 7, 1)),
    ("198907", dt.datetime(1989, 7, 1)),
    ("1989-07-15", dt.datetime(1989, 7, 15)),
    ("19890715", dt.datetime(1989, 7, 15)),
    ("1989-07-15T12:30:00", dt.datetime(1989, 7, 15, 12, 30)),
])
def test_parse_date_formats(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["band 1", "", "1989-13-01", "15/07/1989", "1989-02-30"])
def test_parse_date_rejects(text):
    with pytest.raises(InputError, match="band 3"):
        parse_date(text, "band 3")


def test_expand_start_step():
    d = expand_dates_spec("1981-11/P1M", 4)
    assert [format_date(x) for x in d] == ["1981-11-01", "1981-12-01", "1982-01-01", "1982-02-01"]
    assert [x.year for x in expand_dates_spec("1989/P1Y", 30)] == list(range(1989, 2019))
    assert format_date(expand_dates_spec("2000-02-28/daily", 3)[2]) == "2000-03-01"


def test_expand_list_must_match_band_count():
    assert len(expand_dates_spec("2001, 2002;2003 2004", 4)) == 4
    with pytest.raises(InputError, match="lists 3 dates but the raster has 4 bands"):
        expand_dates_spec("2001,2002,2003", 4)
    with pytest.raises(InputError, match="unknown step"):
        expand_dates_spec("2001/P2W", 4)


def test_time_step():
    assert time_step(expand_dates_spec("1989/P1Y", 5)) == "annual"
    assert time_step(expand_dates_spec("1989-01/P1M", 25)) == "monthly"
    assert time_step(expand_dates_spec("1989-01-01/P1D", 400)) == "daily"
    assert time_step([parse_date(s) for s in ["2001", "2002", "2004"]]) is None


def test_decode_cf_time_standard_and_360_day():
    d = decode_cf_time([29600, 29630], "days since 1900-01-01", "standard")
    assert [format_date(x) for x in d] == ["1981-01-16", "1981-02-15"]
    d360 = decode_cf_time(np.arange(3) * 30 + 15, "days since 2000-01-01", "360_day")
    assert [(x.year, x.month, x.day) for x in d360] == [(2000, 1, 16), (2000, 2, 16), (2000, 3, 16)]
    assert time_step(d360) == "monthly"
    with pytest.raises(InputError, match="cannot decode"):
        decode_cf_time([1, 2], "fortnights after lunch", "standard")
