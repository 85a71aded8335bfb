"""The iris decision tree: real predictions, CSV parsing, honest caching."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_iris

from sandbox.model import IrisModel, ModelInputError, parse_rows


def test_every_training_row_gets_its_own_class(iris_model: IrisModel) -> None:
    iris = load_iris()
    body = "\n".join(",".join(f"{x:g}" for x in row) for row in iris.data).encode()
    answer = iris_model.predict_csv(body).decode().splitlines()
    assert answer == [str(iris.target_names[t]) for t in iris.target]
    assert iris_model.training_accuracy == 1.0


def test_the_blogs_row_is_setosa(iris_model: IrisModel) -> None:
    assert iris_model.predict_csv(b"5,3.5,1.3,0.3") == b"setosa\n"


def test_a_repeated_body_is_answered_from_the_first_prediction() -> None:
    model = IrisModel()
    first = model.predict_csv(b"6.7,3.0,5.2,2.3\n5.1,3.5,1.4,0.2\n")
    assert (model.stats.predictions, model.stats.cache_hits) == (1, 0)
    assert model.predict_csv(b"6.7,3.0,5.2,2.3\n5.1,3.5,1.4,0.2\n") == first
    assert (model.stats.predictions, model.stats.cache_hits) == (1, 1)
    assert model.predict_csv(b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n") == b"setosa\nvirginica\n"
    assert model.stats.predictions == 2
    assert first == b"virginica\nsetosa\n"


@pytest.mark.parametrize(("body", "fragment"), [
    (b"", "no rows"),
    (b"\n\n", "no rows"),
    (b"1,2,3", "expected 4 columns"),
    (b"1,2,3,4,5", "expected 4 columns"),
    (b"1,2,three,4", "not a number"),
    (b"1,2,nan,4", "finite"),
    (b"1,2,3,4\n1,2", "line 2"),
    (b"\xff\xfe", "UTF-8"),
    (b'{"instances": [1, 2, 3, 4]}', "not a number"),
])
def test_bad_payloads_are_model_errors(iris_model: IrisModel, body: bytes,
                                       fragment: str) -> None:
    with pytest.raises(ModelInputError) as caught:
        iris_model.predict_csv(body)
    assert caught.value.status == 400
    assert fragment in caught.value.message


def test_only_csv_is_accepted(iris_model: IrisModel) -> None:
    with pytest.raises(ModelInputError) as caught:
        iris_model.predict_csv(b"1,2,3,4", "application/json")
    assert caught.value.status == 415
    assert iris_model.predict_csv(b"1,2,3,4", "text/csv; charset=utf-8").endswith(b"\n")


def test_blank_lines_are_skipped() -> None:
    assert parse_rows(b"1,2,3,4\n\n5,6,7,8\n") == [[1, 2, 3, 4], [5, 6, 7, 8]]
