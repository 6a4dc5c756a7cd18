"""IdSet against a plain set: the same answers for adds, lookups and removals."""

from hypothesis import given
from hypothesis import strategies as st

from comicocr.idset import IdSet

ops = st.lists(st.tuples(st.sampled_from(["add", "discard"]), st.text(max_size=6)), max_size=300)


@given(ops)
def test_behaves_like_a_dict_of_first_values(steps: list[tuple[str, str]]) -> None:
    ids, model = IdSet(capacity=4), {}  # a tiny table: it must grow, with removals inside it
    for n, (op, cid) in enumerate(steps):
        if op == "add":
            assert ids.add(cid, n) == model.get(cid)
            model.setdefault(cid, n)
        else:
            assert ids.discard(cid) == (cid in model)
            model.pop(cid, None)
        assert len(ids) == len(model)
    for cid, value in model.items():
        assert ids.get(cid) == value
        assert cid in ids
    assert "never added at all" not in ids or "never added at all" in model


def test_a_removed_id_can_come_back_with_a_new_value() -> None:
    ids = IdSet()
    assert ids.add("a/1", 7) is None
    assert ids.discard("a/1")
    assert not ids.discard("a/1")
    assert ids.add("a/1", 9) is None
    assert ids.get("a/1") == 9
