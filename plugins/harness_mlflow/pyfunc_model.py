"""MLflow "models from code" definition of a trained harness classifier.

MLflow stores this file with the model instead of a cloudpickled object, so loading a
model executes only this code and the installed harness plugins: the network is rebuilt
from ``model_spec.json`` through the registry and its arrays are read from
``weights.npz`` with ``allow_pickle=False``.

Input: an ``(n, 784)`` array or DataFrame of pixels, floats in [0, 1] (integer input,
uint8 0–255, is scaled by 1/255). Output: the predicted class of each row.
"""

import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel


class HarnessClassifier(PythonModel):
    # Inputs are checked against the explicit signature logged with the model, not type hints.
    _skip_type_hint_validation = True

    def load_context(self, context):
        from harness.training.weights import load_model_files

        self.model, self.spec = load_model_files(context.artifacts["spec"], context.artifacts["weights"])
        self.dtype = np.dtype(self.spec["dtype"])

    def predict(self, context, model_input, params=None):
        from harness.training.weights import predict_classes

        x = model_input.to_numpy() if hasattr(model_input, "to_numpy") else np.asarray(model_input)
        if x.ndim != 2 or x.shape[1] != self.spec["input_dim"]:
            raise ValueError(f"expected input of shape (n, {self.spec['input_dim']}), got {x.shape}")
        if np.issubdtype(x.dtype, np.integer):
            x = x / 255.0
        return predict_classes(self.model, x, self.dtype)


mlflow.models.set_model(HarnessClassifier())
