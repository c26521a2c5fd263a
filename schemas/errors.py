"""The one base class of errors a staff member can act on: printed as one message, never as a traceback; and how
such a message names a flow's parameter."""


class StaffError(Exception):
    """A problem staff can fix or wait out; the message says what happened and what to do."""


# The flow parameters whose command-line flag is not the parameter's own name (as_of is --as-of).
_FLAGS = {"config_path": "--config", "out_dir": "--out", "capacities": "--capacity"}


def setting(parameter: str) -> str:
    """A flow parameter named for both places staff set it: the Prefect UI's run form, where it is the parameter, and
    the command line, where it is a flag: `preview` (--preview on the command line)."""
    flag = _FLAGS.get(parameter, "--" + parameter.replace("_", "-"))
    return f"`{parameter}` ({flag} on the command line)"
