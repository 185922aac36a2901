from hypothesis import example, given, strategies as st


@given(st.lists(st.integers()))
def test_sort_idempotent(xs):
    assert sorted(sorted(xs)) == sorted(xs)


@given(st.lists(st.integers(), min_size=2))
def test_sorted_is_reversed(xs):
    assert sorted(xs) == sorted(xs, reverse=True)


@given(st.text())
@example("")
def test_roundtrip(s):
    assert s.encode("utf-8").decode("utf-8") == s


@given(st.integers(), st.integers())
def test_add_commutes(a, b):
    assert a + b == b + a
