"""The one base class of errors a staff member can act on: printed as one message, never as a traceback."""


class StaffError(Exception):
    """A problem staff can fix or wait out; the message says what happened and what to do."""
