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
    STATE_DIR = "COHORT_STATE_DIR"  # the folder of the SQLite store, over the cohort file's state_dir
    STATE_BACKEND = "COHORT_STATE_BACKEND"  # which store a deployment's runs must use (prefect.yaml job_variables)


class PrefectEnv(StrEnum):
    """Prefect's own environment variables that a command reads before Prefect is imported (flows/local_server.py)."""

    HOME = "PREFECT_HOME"  # Prefect's folder: its profiles file and its temporary server's database
    PROFILES_PATH = "PREFECT_PROFILES_PATH"  # the profiles file, when not in PREFECT_HOME
    PROFILE = "PREFECT_PROFILE"  # the active profile, over the file's `active`
    ALLOW_EPHEMERAL = "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"  # false: no temporary server, an API URL is needed
    STARTUP_TIMEOUT = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"  # how long a temporary server may take


class StoreBackend(StrEnum):
    """Where a deployment's runs keep their state: SQLAlchemy's backend names of the two supported databases."""

    POSTGRESQL = "postgresql"  # several workers or machines share one store
    SQLITE = "sqlite"  # one machine: a file under the cohort's state_dir


class DeploymentStep(StrEnum):
    """The steps of a call that each cohort file is served and deployed as: a deployment is named
    `<cohort file stem>-<step>` (tasks/deployments.py), e.g. `esp-2021-select-at-deadline`, so several cohorts
    can be served at once and each run names its call."""

    INTAKE_CHECK = "intake-check"
    SELECT_AT_DEADLINE = "select-at-deadline"
    SEND_NOTICES = "send-notices"
    INTEREST_NOTICES = "interest-notices"
    PROMOTE_WAITLIST = "promote-waitlist"
    WHAT_IF = "what-if"
    # A call with a review round (the cohort file's `review:`) has these too.
    REVIEW_ASSIGN = "review-assign"
    REVIEW_NOTICES = "review-notices"
    REVIEW_REMINDERS = "review-reminders"
    REVIEW_COLLECT = "review-collect"


REVIEW_STEPS: frozenset[DeploymentStep] = frozenset(
    {
        DeploymentStep.REVIEW_ASSIGN,
        DeploymentStep.REVIEW_NOTICES,
        DeploymentStep.REVIEW_REMINDERS,
        DeploymentStep.REVIEW_COLLECT,
    }
)


def deployment_name(cohort_stem: str, step: DeploymentStep) -> str:
    """The deployment of one step for one cohort file: `esp-2021-select-at-deadline` for cohorts/esp-2021.yaml."""
    return f"{cohort_stem}-{step.value}"


# How often a served runner asks the server for runs to start. Prefect's default (10 s) was most of the wait
# between Submit in the UI and a run starting; a local server answers a poll in milliseconds.
SERVED_POLL_SECONDS = 1
