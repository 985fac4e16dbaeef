"""fanzha's rasa_sdk action server: thin actions over ``knowledge``."""
from .request_check import install as _check_action_calls

# The action server loads this package before it starts: malformed calls then get 400.
_check_action_calls()
