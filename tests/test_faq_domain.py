from bot.cli.faq_domain import VOICE_CHANNEL, faq_domain


def test_every_faq_answer_becomes_a_retrieval_response_with_a_voice_variant(knowledge):
    domain = faq_domain()
    assert domain["intents"] == ["faq"]
    responses = domain["responses"]
    assert set(responses) == {f"utter_faq/{key}" for key in knowledge.faqs}
    for key, faq in knowledge.faqs.items():
        variants = responses[f"utter_faq/{key}"]
        assert variants[0] == {"text": faq.answer}
        if faq.voice != faq.answer:
            assert {"text": faq.voice, "channel": VOICE_CHANNEL} in variants
