"""What more than one test module uses: builders of rows, configs and runs, the local SMTP and Sheets servers,
the subprocesses the kill tests start, and the project's paths. Test modules import shared things only from here.

Nothing here imports Prefect at import time: tests/conftest.py must set Prefect's environment first.
"""
