"""Input channels. Every channel hands Rasa text that has already been cleaned by
:func:`bot.channels.masking.clean_user_message`."""

from bot.action_guard import install as _guard_custom_actions

# Channels load in the Rasa server: from then on a failed custom action still answers (110, 96110).
_guard_custom_actions()
