"""econplan.bundle.write_csv: exact float round trip, quoting, header, and the file text."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from econplan import bundle
from econplan.bundle import write_csv

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def reference_csv(df: pd.DataFrame) -> str:
    """The text the writer produced before it used pyarrow: ``repr`` per float (NaN empty),
    ``astype(str)`` otherwise, then pandas ``to_csv``. The new writer must match it
    (it differs only by also quoting fields that contain ``\\r``)."""
    out = {}
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_float_dtype(col):
            out[c] = ["" if x != x else repr(float(x)) for x in col.to_numpy()]
        else:
            out[c] = col.astype(str).to_numpy()
    return pd.DataFrame(out, columns=list(df.columns)).to_csv(index=False, lineterminator="\n")


def written(df: pd.DataFrame, tmp_path, name: str = "t.csv") -> bytes:
    path = tmp_path / name
    write_csv(df, path)
    return path.read_bytes()


def bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64).view(np.int64)


def assert_same_floats(got, want: np.ndarray) -> None:
    got = np.asarray(got, dtype=np.float64)
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)  # NaN ↔ empty field
    np.testing.assert_array_equal(bits(got[~nan]), bits(want[~nan]))  # bit-exact, -0.0 too


# --------------------------------------------------------------------------- exact text


def test_fixed_example_exact_text(tmp_path):
    df = pd.DataFrame({
        "technique": ["t1", "t,2", 'say "hi"', "two\nlines", "café", "cr\rx", None],
        "level": [1.0, np.nan, -0.0, np.inf, -np.inf, 0.1, 1e16],
        "tiny": [1e-4, 9.5e-05, 1e-7, 5e-324, 2.2250738585072014e-308, 1e-320, -3.25e-06],
        "big": [1e15, 1234567890123456.8, 12345678901.234568, 1e22, 1.7976931348623157e308,
                123456.0, 0.0],
        "n": [1, -2, 3, 0, 10**12, 6, 7],
        "ok": [True, False, True, True, False, False, True],
    })
    assert written(df, tmp_path).decode("utf-8") == (
        "technique,level,tiny,big,n,ok\n"
        "t1,1.0,0.0001,1000000000000000.0,1,True\n"
        '"t,2",,9.5e-05,1234567890123456.8,-2,False\n'
        '"say ""hi""",-0.0,1e-07,12345678901.234568,3,True\n'
        '"two\nlines",inf,5e-324,1e+22,0,True\n'
        "café,-inf,2.2250738585072014e-308,1.7976931348623157e+308,1000000000000,False\n"
        '"cr\rx",0.1,1e-320,123456.0,6,False\n'
        ",1e+16,-3.25e-06,0.0,7,True\n"
    )


def test_matches_previous_writer_on_mixed_dtypes(tmp_path):
    df = pd.DataFrame({
        "s": ["a", None, "b,c", 'q"x', "", "é", " lead", "t\tt"],
        "o": pd.Series(["x", np.nan, 3, 2.5, None, "y", True, "z"], dtype=object),
        "f": [1.0, np.nan, -0.0, np.inf, 2.5e-5, 3e20, 7.0, 1 / 3],
        "f32": np.arange(8, dtype=np.float32) / 3,
        "i": np.arange(8, dtype=np.int64) - 4,
        "u": np.arange(8, dtype=np.uint64) * 2**61,
        "i8": np.arange(8, dtype=np.int8),
        "b": [True, False] * 4,
        "I": pd.array([1, None] * 4, dtype="Int64"),
        "F": pd.array([1.5, None] * 4, dtype="Float64"),
        "c": pd.Categorical(list("abcdabcd")),
    })
    assert written(df, tmp_path).decode("utf-8") == reference_csv(df)


@pytest.mark.parametrize("df", [
    pd.DataFrame({"a": [np.nan, 1.0, np.nan]}),  # one column: empty fields as ""
    pd.DataFrame({"a": ["", "x", None]}),
    pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype=str)}),
    pd.DataFrame(),
    pd.DataFrame(index=range(3)),
    pd.DataFrame({"a,b": [1], 'q"': [2], "c": [3]}),
], ids=["one-float-col", "one-str-col", "no-rows", "empty", "no-columns", "odd-names"])
def test_edge_frames_match_previous_writer(tmp_path, df):
    assert written(df, tmp_path).decode("utf-8") == reference_csv(df)


def test_chunked_writing_gives_the_same_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(1000) * 10.0 ** rng.integers(-30, 30, 1000)
    x[::7] = np.nan
    df = pd.DataFrame({"id": [f"t{i}" for i in range(1000)], "x": x, "n": np.arange(1000)})
    whole = written(df, tmp_path, "whole.csv")
    monkeypatch.setattr(bundle, "_CSV_CHUNK_ROWS", 37)
    assert written(df, tmp_path, "chunked.csv") == whole
    assert whole.decode("utf-8") == reference_csv(df)


def test_many_random_bit_patterns_are_written_as_repr():
    x = np.random.default_rng(7).integers(0, 2**63, 200_000, dtype=np.int64)
    x = (x * np.where(np.arange(len(x)) % 2, 1, -1)).view(np.float64)
    got = bundle._float_fields(x).to_pylist()
    assert got == ["" if v != v else repr(v) for v in x.tolist()]


# --------------------------------------------------------------------------- properties

float_arrays = hnp.arrays(np.float64, st.integers(0, 40), elements=st.floats(
    allow_nan=True, allow_infinity=True, allow_subnormal=True, width=64))


def read_back_floats(data: bytes, names: list[str]):
    """The float columns, read by pyarrow and by pandas' round-trip parser."""
    types = {n: pa.float64() for n in names}
    t = pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(
        column_types=types))
    with warnings.catch_warnings():  # pandas ≥ 3 deprecates the option (round trip is
        warnings.simplefilter("ignore")  # its default there); older pandas needs it
        p = pd.read_csv(io.BytesIO(data), float_precision="round_trip",
                        dtype={n: np.float64 for n in names})
    return t, p


@SETTINGS
@given(x=float_arrays, y=float_arrays)
def test_floats_round_trip_bit_exactly(tmp_path, x, y):
    n = min(len(x), len(y))
    df = pd.DataFrame({"id": [f"t{i}" for i in range(n)], "x": x[:n], "y": y[:n]})
    data = written(df, tmp_path)
    assert data.decode("utf-8") == reference_csv(df)  # repr text, exactly as before
    t, p = read_back_floats(data, ["x", "y"])
    assert t.column_names == p.columns.tolist() == ["id", "x", "y"]
    for name in ("x", "y"):
        want = df[name].to_numpy()
        assert_same_floats(t.column(name).to_numpy(zero_copy_only=False), want)
        assert_same_floats(p[name].to_numpy(), want)


@SETTINGS
@given(x=float_arrays)
def test_single_float_column_round_trips(tmp_path, x):
    df = pd.DataFrame({"v": x})
    data = written(df, tmp_path)
    assert data.decode("utf-8") == reference_csv(df)
    t, p = read_back_floats(data, ["v"])
    assert len(t) == len(p) == len(x)
    assert_same_floats(t.column("v").to_numpy(zero_copy_only=False), x)
    assert_same_floats(p["v"].to_numpy(), x)


texts = st.text(alphabet=st.one_of(st.sampled_from(list(',"\n\r é\tü€;\'')),
                                   st.characters(blacklist_characters="\x00",
                                                 blacklist_categories=("Cs",))),
                max_size=12)


@SETTINGS
@given(a=st.lists(texts, max_size=30), data=st.data())
def test_strings_round_trip(tmp_path, a, data):
    b = data.draw(st.lists(texts, min_size=len(a), max_size=len(a)))
    df = pd.DataFrame({"b": pd.Series(b, dtype=object), "n": np.arange(len(a)),
                       "a": pd.Series(a, dtype=object)})
    raw = written(df, tmp_path)
    if not any("\r" in s for s in a + b):  # the previous writer left \r unquoted
        assert raw.decode("utf-8") == reference_csv(df)
    t = pacsv.read_csv(io.BytesIO(raw),
                       parse_options=pacsv.ParseOptions(newlines_in_values=True),
                       convert_options=pacsv.ConvertOptions(
                           column_types={"a": pa.string(), "b": pa.string()}))
    assert t.column_names == ["b", "n", "a"]
    assert t.column("a").to_pylist() == a and t.column("b").to_pylist() == b
    p = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    assert p.columns.tolist() == ["b", "n", "a"]
    assert p["a"].tolist() == a and p["b"].tolist() == b


# names start with a letter: a header line of blanks reads back as no columns at all
@SETTINGS
@given(names=st.lists(st.builds(str.__add__, st.sampled_from("abé"),
                                st.text(alphabet="abcxyz_ ,\"é1", max_size=5)),
                      min_size=1, max_size=6, unique=True),
       rows=st.integers(0, 3))
def test_header_and_column_order(tmp_path, names, rows):
    df = pd.DataFrame({n: np.arange(rows, dtype=float) + i for i, n in enumerate(names)})
    raw = written(df, tmp_path)
    assert raw.decode("utf-8") == reference_csv(df)
    assert pd.read_csv(io.BytesIO(raw)).columns.tolist() == names
    assert pacsv.read_csv(io.BytesIO(raw)).column_names == names
