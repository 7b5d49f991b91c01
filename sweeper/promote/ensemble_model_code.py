"""MLflow "model from code" entry of a promoted ensemble (see :mod:`sweeper.promote.model_code`)."""

from mlflow.models import set_model

from sweeper.promote.pyfunc import EnsemblePyfuncModel

set_model(EnsemblePyfuncModel())
