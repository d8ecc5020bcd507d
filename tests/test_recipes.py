import pytest

from ginr_core.data.signals import PAPER_GRAY_SCOTT, GrayScottParams, gray_scott
from ginr_core.errors import GinrError
from ginr_core.learning.recipes import comma_list, default_of, list_text


def test_a_comma_list_reads_what_a_person_types():
    assert comma_list(" 0.048, 0.052;0.056 ,") == (0.048, 0.052, 0.056)
    assert comma_list("16,64", int) == (16, 64) and comma_list("sine, relu", str) == ("sine", "relu")
    assert comma_list(list_text((30.0, 90.0, 0.002))) == (30.0, 90.0, 0.002)
    with pytest.raises(GinrError, match="Width: give numbers separated by commas, e.g. 128; got '12x'"):
        comma_list("12x", int, "Width", "128")
    with pytest.raises(GinrError, match="got '1.5'"):
        comma_list("1.5", int)


def test_the_paper_gray_scott_recipe_is_the_simulations_default():
    assert PAPER_GRAY_SCOTT == GrayScottParams(steps=30_000, Du=0.64, Dv=0.32, F=0.060, k=0.062, seed=1234)
    assert all(default_of(gray_scott, name) == value for name, value in PAPER_GRAY_SCOTT.as_dict().items())
