import pytest

from comicocr.ids import MAX_ID_LENGTH, check_id, id_problem


@pytest.mark.parametrize("ok", ["page_001", "Series/issue01/page_001", "日本/第1巻/p01", "a.b-c_d", "x..y"])
def test_safe_ids_pass(ok: str) -> None:
    assert check_id(ok) == ok


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("../etc/passwd", "'..'"),
        ("a/../../b", "'..'"),
        ("/abs/path", "starts with '/'"),
        ("a\\b", "backslash"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("a//b", "empty"),
        ("a/./b", "'.'"),
        ("trailing/", "empty"),
        (" lead", "whitespace"),
        ("x" * (MAX_ID_LENGTH + 1), "longer"),
    ],
)
def test_unsafe_ids_say_why(bad: str, why: str) -> None:
    problem = id_problem(bad)
    assert problem is not None
    assert why in problem
    with pytest.raises(ValueError, match="canonical_id"):
        check_id(bad)
