"""fanzha's rasa_sdk action server: thin actions over ``knowledge``."""
from .caller_check import install as _check_callers
from .request_check import install as _check_action_calls

# The action server loads this package before it starts: it then runs only calls that carry the
# Rasa server's secret (else 401), within the size limit (else 413), and refuses malformed ones (400).
_check_callers()
_check_action_calls()
