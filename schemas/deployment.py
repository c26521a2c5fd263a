"""The production set-up's vocabulary: the work pool, the environment variables a worker and its runs read, and the
state store backends a deployment can ask for (flows/worker.py checks them; tasks/worker_checks.py judges them)."""

from enum import StrEnum

WORK_POOL = "cohort-select"  # prefect.yaml's work pool; `make worker` serves it
WORK_POOL_TYPE = "process"
PREFECT_YAML = "prefect.yaml"


class Env(StrEnum):
    """The environment variables of a worker and of the runs it starts."""

    API_URL = "PREFECT_API_URL"  # the shared Prefect server's API, e.g. http://prefect.example.org:4200/api
    API_KEY = "PREFECT_API_KEY"  # Prefect Cloud's credentials
    API_AUTH_STRING = "PREFECT_API_AUTH_STRING"  # a self-hosted server's basic-auth `user:password`
    HOME = "COHORT_SELECT_HOME"  # the project folder on the worker: prefect.yaml's pull step changes into it
    STATE_URL = "COHORT_STATE_URL"  # a whole store URL, over the cohort file's state_url (schemas/config.py)
    STATE_BACKEND = "COHORT_STATE_BACKEND"  # which store a deployment's runs must use (prefect.yaml job_variables)


class StoreBackend(StrEnum):
    """Where a deployment's runs keep their state: SQLAlchemy's backend names of the two supported databases."""

    POSTGRESQL = "postgresql"  # several workers or machines share one store
    SQLITE = "sqlite"  # one machine: a file under the cohort's state_dir
