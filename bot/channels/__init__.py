"""Input channels. Every channel hands Rasa text that has already been cleaned by
:func:`bot.channels.masking.clean_user_message`."""
