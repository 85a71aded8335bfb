"""A model server of the shape of SageMaker's "bring your own container" sample.

Flask + a scikit-learn decision tree trained on iris at start: ``GET /ping`` answers 200,
``POST /invocations`` takes text/csv rows and answers one class name per row. gunicorn runs it
(sync workers) and nginx fronts it (``tests.servers.model_server``). Nothing here is ours in
the sense that matters: the request path runs through nginx, gunicorn, Werkzeug and sklearn.
"""

from __future__ import annotations

import io

import flask
import numpy as np
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

_iris = load_iris()
_model = DecisionTreeClassifier(random_state=0).fit(_iris.data, _iris.target)
_names = _iris.target_names

app = flask.Flask(__name__)


@app.get("/ping")
def ping() -> flask.Response:
    return flask.Response("\n", status=200, mimetype="application/json")


@app.post("/invocations")
def invocations() -> flask.Response:
    if flask.request.content_type != "text/csv":
        return flask.Response("This predictor only supports CSV data", status=415,
                              mimetype="text/plain")
    text = flask.request.get_data(as_text=True)
    try:
        rows = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2)
    except ValueError as exc:
        return flask.Response(f"bad CSV: {exc}", status=400, mimetype="text/plain")
    predictions = _model.predict(rows)
    out = "".join(f"{_names[int(p)]}\n" for p in predictions)
    return flask.Response(out, status=200, mimetype="text/csv")
