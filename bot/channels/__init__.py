"""Input channels, one subpackage each (web: the widget's REST, socket.io and pages; voice;
wechat; console; outreach) with its texts and assets; the modules here are what they share.
Every channel hands Rasa text that has already been cleaned by
:func:`bot.channels.masking.clean_user_message`."""
