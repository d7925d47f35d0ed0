"""MLflow "models from code" definition of a trained harness classifier.

MLflow stores this file with the model instead of a cloudpickled object, so loading a
model executes only this code and the installed harness plugins: the network is rebuilt
from ``model_spec.json`` through the registry and its arrays are read from
``weights.npz`` with ``allow_pickle=False``.

Input: an ``(n, 784)`` float32 array or DataFrame of pixels in [0, 1], as the logged
signature says (MLflow refuses other dtypes before ``predict`` runs, so scale uint8
images with ``/ 255`` first). Output: the predicted class of each row.
"""

import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel


class HarnessClassifier(PythonModel):
    # Inputs are checked against the explicit signature logged with the model, not type hints.
    _skip_type_hint_validation = True

    def load_context(self, context):
        from harness import load_model_files

        self.model, self.spec = load_model_files(context.artifacts["spec"], context.artifacts["weights"])
        self.dtype = np.dtype(self.spec["dtype"])

    def predict(self, context, model_input, params=None):
        from harness import predict_classes

        x = model_input.to_numpy() if hasattr(model_input, "to_numpy") else np.asarray(model_input)
        if x.ndim != 2 or x.shape[1] != self.spec["input_dim"]:
            raise ValueError(f"expected input of shape (n, {self.spec['input_dim']}), got {x.shape}")
        return predict_classes(self.model, x, self.dtype, tta_shift=self.spec.get("tta_shift", 0))


mlflow.models.set_model(HarnessClassifier())
