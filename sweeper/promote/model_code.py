"""MLflow "model from code" entry: MLflow stores this file, not a pickle of the model object."""

from mlflow.models import set_model

from sweeper.promote.pyfunc import PosePyfuncModel

set_model(PosePyfuncModel())
