"""MLflow tracking as a run-event plugin: every run recorded, the core none the wiser."""
