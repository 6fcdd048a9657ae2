from __future__ import annotations

from tools.csv_cleaner import clean_csv


def test_header_is_snake_cased_and_cells_trimmed() -> None:
    result = clean_csv("Customer ID , Full Name\n 1 ,  Ada \n")
    assert result["columns"] == ["customer_id", "full_name"]
    assert result["csv"] == "customer_id,full_name\n1,Ada\n"


def test_empty_and_duplicate_rows_are_dropped() -> None:
    result = clean_csv("a,b\n1,2\n,\n1,2\n3,4\n")
    assert result["rows"] == 2
    assert result["dropped"] == 1


def test_short_rows_are_padded() -> None:
    assert clean_csv("a,b,c\n1\n")["csv"] == "a,b,c\n1,,\n"


def test_other_delimiter_and_empty_input() -> None:
    assert clean_csv("x;y\n1;2\n", delimiter=";")["columns"] == ["x", "y"]
    assert clean_csv("")["rows"] == 0


def test_rows_longer_than_the_header_are_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="row 2 has 3 cells but the header has 2"):
        clean_csv("a,b\n1,2\n1,2,3\n")
