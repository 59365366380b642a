"""Trainer for the ``cancer-train`` pipeline (pipelines/cancer-train.yaml).

mlops-gitops loads the data, applies the pipeline's feature transformations and split, then
calls ``train`` with the training part and the pipeline's ``trainer.hyperparameters``. The
returned estimator is evaluated, saved and committed as a new model version.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def train(X_train: pd.DataFrame, y_train: pd.Series, **hyperparameters: Any) -> Pipeline:
    """Fit standardization plus logistic regression; ``hyperparameters`` go to the regression."""
    params: dict[str, Any] = {"max_iter": 1000, **hyperparameters}
    model = Pipeline([("scaler", StandardScaler()), ("classifier", LogisticRegression(**params))])
    model.fit(X_train, y_train)
    return model
