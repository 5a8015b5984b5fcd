"""The one key=value parser (ecoresp_core/common/keyvalue.py)."""

import pytest

from ecoresp_core.common.keyvalue import parse_list, parse_pairs
from ecoresp_core.errors import InputError


def test_pairs_both_separators_order_and_errors():
    assert parse_pairs(" SM=mean; snow = SUM ,TA=mean;;", "AGGREGATION") == [("SM", "mean"), ("snow", "SUM"),
                                                                             ("TA", "mean")]
    assert parse_pairs("", "X") == parse_pairs(None, "X") == []
    assert parse_pairs('TA=NETCDF:"a,b.nc":tas; K=x=y', "DRIVER_FILES", separators=";") == \
        [("TA", 'NETCDF:"a,b.nc":tas'), ("K", "x=y")]
    with pytest.raises(InputError, match=r"^AGGREGATION: entry 'snow' is not name=sum or name=mean$"):
        parse_pairs("SM=mean; snow", "AGGREGATION", "name=sum or name=mean")


def test_list():
    assert parse_list(" DE-Hai, FR-Pue;US-Var ,") == ["DE-Hai", "FR-Pue", "US-Var"]
    assert parse_list("a;b", separators=",") == ["a;b"] and parse_list(None) == []
