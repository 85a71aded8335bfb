"""The model every simulated instance serves: a decision tree on the iris data, like the blog's.

It is trained at start on ``sklearn.datasets.load_iris()`` (shipped with scikit-learn, nothing is
downloaded) and answers ``text/csv`` rows of four numbers with one class name per line, as the
scikit_bring_your_own container does. Predictions are cached per identical request body: the
first answer for a body is computed by the tree, later ones are that answer. Load tests send
the same few bodies thousands of times, and a scikit-learn ``predict`` costs about 100 µs of
Python overhead whatever the row count, which would otherwise dominate the sandbox's CPU.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

CSV_TYPES = ("text/csv", "text/plain")
FEATURES = 4
_CACHE_LIMIT = 4096  # bodies; the cache is dropped whole when full (load tests reuse few)


class ModelInputError(Exception):
    """The container rejected the request: SageMaker turns this into ModelError (424)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class ModelStats:
    predictions: int = 0  # requests answered by the tree itself
    cache_hits: int = 0
    rejected: int = 0
    predict_seconds: float = 0.0  # time spent in parsing and the tree, cache misses only


class IrisModel:
    """A DecisionTreeClassifier trained on iris at construction (a few ms, after the import)."""

    def __init__(self, random_state: int = 0) -> None:
        # Imported here so that importing the sandbox package stays cheap; scikit-learn costs
        # about 1.5 s and 100 MiB the first time (see docs/sandbox.md).
        import numpy as np
        from sklearn.datasets import load_iris
        from sklearn.tree import DecisionTreeClassifier

        iris = load_iris()
        self._np = np
        self._tree = DecisionTreeClassifier(random_state=random_state).fit(iris.data,
                                                                          iris.target)
        self.class_names: list[str] = [str(name) for name in iris.target_names]
        self.training_accuracy = float(self._tree.score(iris.data, iris.target))
        self._cache: dict[bytes, bytes] = {}
        self.stats = ModelStats()

    def predict_csv(self, body: bytes, content_type: str | None = "text/csv") -> bytes:
        """Class names, one CSV line per input row; raises ModelInputError on a bad payload."""
        media = (content_type or "text/csv").split(";", 1)[0].strip().lower()
        if media not in CSV_TYPES:
            self.stats.rejected += 1
            raise ModelInputError(415, "This predictor only supports CSV data")
        cached = self._cache.get(body)
        if cached is not None:
            self.stats.cache_hits += 1
            return cached
        started = time.perf_counter()
        try:
            rows = parse_rows(body)
        except ModelInputError:
            self.stats.rejected += 1
            raise
        predicted = self._tree.predict(self._np.asarray(rows, dtype=self._np.float64))
        answer = "".join(self.class_names[int(i)] + "\n" for i in predicted).encode()
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[bytes(body)] = answer
        self.stats.predictions += 1
        self.stats.predict_seconds += time.perf_counter() - started
        return answer


def parse_rows(body: bytes) -> list[list[float]]:
    """Rows of exactly four finite numbers; blank lines are skipped, anything else is an error."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelInputError(400, "payload is not UTF-8 text") from None
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != FEATURES:
            raise ModelInputError(
                400, f"line {number}: expected {FEATURES} columns, got {len(cells)}")
        try:
            row = [float(cell) for cell in cells]
        except ValueError:
            raise ModelInputError(400, f"line {number}: not a number: {line[:80]!r}") from None
        if not all(math.isfinite(value) for value in row):
            raise ModelInputError(400, f"line {number}: values must be finite")
        rows.append(row)
    if not rows:
        raise ModelInputError(400, "payload has no rows")
    return rows
