"""fanzha's rasa_sdk action server: thin actions over ``knowledge``."""
