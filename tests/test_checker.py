"""The checker on texts written for these tests (never in the training examples)."""
from __future__ import annotations

import io
import json
import shutil
from dataclasses import replace

import pytest

from bot.cli.main import run_jsonl
from knowledge.checker import Checker
from knowledge.loader import Example, KnowledgeError, load_knowledge
from tests.conftest import ROOT
from tests.test_real_styles import ADVERTS, WARNINGS_AND_QUESTIONS

SCAMS = [
    ("shuadan", "招聘兼职宝妈，在家用手机给商品点赞关注，一单佣金5元，先做三单体验，后面的连单任务要先垫付本金"),
    ("investment", "我加了个炒股群，里面的导师天天晒收益，让我去他们的平台买原始股，说内幕消息稳赚不赔"),
    ("fake_customer_service", "接到电话说是抖音客服，说我开通了百万保障服务每月要扣800，不关闭就影响征信，让我下载会议软件操作"),
    ("loan_credit", "网上申请了无抵押贷款，客服说我银行卡号填错了资金被冻结，要先交3000解冻费才能放款"),
    ("impersonate_police", "一个自称派出所的警官视频给我看了逮捕令，说我的身份信息被人用来洗钱，必须保密，把钱转到安全账户审查"),
    ("impersonate_acquaintance", "有人加我QQ，头像和名字都是我们局长，说在开会不方便接电话，让我先给一个供应商转8万"),
    ("romance", "在婚恋网站认识一个男的，从没见过面，天天叫我宝贝，最近说他发现博彩网站有漏洞，带我一起下注赚钱"),
    ("game_trade", "在游戏群里看到有人低价卖王者荣耀账号，让我去一个交易网站付款，付完说我账户被冻结要交保证金"),
    ("flight_refund", "收到短信说我明天的航班因机械故障取消了，联系客服可以改签还能领300元延误补偿，客服让我开通企业收款"),
    ("military_purchase", "有个自称部队的采购员要在我店里订200箱矿泉水，还要我帮忙从他指定的供应商那里代买一批军用睡袋，先垫付货款"),
    ("fake_prize", "收到一个快递里面有张刮刮卡，刮开中了二等奖一台汽车，打电话去领奖对方说要先交个人所得税和公证费"),
    ("elderly_care", "我爸去听了个健康讲座，领了鸡蛋，后来花了两万买了一种说能治高血压糖尿病的保健品，还要交钱预订养老院床位"),
    ("recovery_scam", "我被骗之后在网上找到一个追损中心，说有黑客技术能把钱追回来，先交10%的服务费"),
    ("two_cards", "有人在群里收银行卡，说借我的卡走一下流水，一天给我500块，只要把卡和U盾寄给他"),
    # Types that share "your money is frozen, pay to release it": the type-specific part decides.
    ("fake_shopping", "在二手群出一台旧电脑，买家说钱已经付到平台了，让我点他给的链接做卖家认证才能收款，要交800认证金"),
    ("game_trade", "想买个和平精英的号，卖家说先转钱，他再帮我换绑手机和改实名，钱转了他又说要加200的改绑费"),
    ("investment", "网上那个理财平台说我的收益要先交20%的税才能出金，账户现在冻结了"),
]

ORDINARY = [
    "【XX银行】您尾号6789的储蓄卡11月20日工资收入8,530.00元，余额12,006.35元。",
    "【某某快递】您的包裹已由前台代收，如有疑问请在官方APP内联系客服。",
    "【XX】验证码 552871，用于登录，5分钟内有效。请勿泄露给他人。",
    "妈，周末我回家吃饭，给你带了两盒月饼，红包我先转你200，你去买点水果",
    "本月话费账单：套餐费58元，流量费0元，合计58元，已从您的账户余额扣除。",
    "社区通知：本周六上午9点在社区活动室开展反诈宣传讲座，欢迎居民参加。",
    "老王，明天下午三点的会改到会议室B，记得带上季度报表。",
    "周五的部门例会改成线上开，用腾讯会议，会议号下班前发到群里。",
]

# Anti-fraud publicity names the dangerous techniques, and rebuts them.
WARNINGS = [
    "【某区公安分局】接到“公检法”电话要你把存款转进安全账户的，都是诈骗，请直接挂断拨打110。",
    "社区网格员在群里提醒：自称电商客服让你开屏幕共享办退款的，一律是骗局，千万别信。",
    "【某银行】温馨提示：电话里让您下载会议软件“办理业务”的都是诈骗，请挂断后拨打本行官方客服电话核实。",
]


def test_training_examples_do_not_contain_these_texts(knowledge):
    from bench.dataset import near_duplicates

    mine = [t for _, t in SCAMS] + ORDINARY + WARNINGS
    assert not near_duplicates(mine, [e.text for e in knowledge.examples], threshold=0.5)


def test_flight_refund_examples_say_it_is_about_a_flight(knowledge):
    """A refund story that names no flight or ticket fits fake_customer_service just as well, and
    the two types then teach the classifier contradicting things (knowledge/README.md)."""
    import re

    flight = re.compile(r"航|机|飞|票|改签|旅客|乘客|行程|機|飛|flight|airline|booking|ticket|行班", re.IGNORECASE)
    # A phone (手机) or a cash machine (ATM机, 取款机) is not a flight.
    not_a_plane = re.compile(r"手机|手機|取款机|提款机|ATM机|柜员机|机器|機器", re.IGNORECASE)
    assert [e.text for e in knowledge.examples
            if e.label == "flight_refund" and not flight.search(not_a_plane.sub("", e.text))] == []


@pytest.mark.parametrize("code, text", SCAMS, ids=[c for c, _ in SCAMS])
def test_each_scam_type_is_named(checker, code, text):
    verdict = checker.check(text)
    assert verdict.scam_type == code, (verdict.scam_type, list(verdict.probabilities.items())[:3])
    assert verdict.risk in ("high", "medium")
    assert verdict.red_flags


@pytest.mark.parametrize("text", ORDINARY + ADVERTS + WARNINGS_AND_QUESTIONS)
def test_ordinary_messages_stay_calm(checker, text):
    """Also adverts with links and numbers, and warnings or questions that name a critical technique."""
    verdict = checker.check(text)
    assert verdict.risk in ("none", "low"), (verdict.risk, verdict.red_flags)
    assert verdict.scam_type is None


@pytest.mark.parametrize("text", WARNINGS)
def test_warnings_about_scams_stay_calm(checker, text):
    verdict = checker.check(text)
    assert verdict.red_flags, "the warning does name a red flag"
    assert verdict.risk in ("none", "low"), (verdict.risk, verdict.scam_probability)


def test_a_yes_to_the_follow_up_question_makes_a_calm_case_at_least_medium(checker):
    """The question asks for the detail that decides it; the resident's "yes" outweighs what the
    words of one message could show (their probability alone would stay below medium here)."""
    text = "最近在网上认识了一个朋友"
    before = checker.check(text)
    assert before.risk in ("low", "none") and before.follow_up
    after = checker.check(text, [before.follow_up[0].confirms])
    assert after.scam_probability < checker.weights.medium
    assert after.risk == "medium" and after.scam_type == "romance"


def test_a_critical_request_is_high_even_with_a_polite_warning_attached(checker):
    # Scam messages copy the boilerplate of real notices; that must not calm a safe-account request.
    verdict = checker.check("【某某银行】系统检测到您的账户有风险，请马上把余额转入我行安全账户保管，谨防诈骗。")
    assert verdict.risk == "high", (verdict.risk, verdict.scam_probability)
    assert any(h.flag == "safe_account" for h in verdict.red_flags)


def test_red_flag_spans_are_exact(checker):
    text = "对方说我涉嫌洗钱，让我开启屏幕共享，再把钱转到安全账户"
    verdict = checker.check(text)
    assert verdict.red_flags
    for hit in verdict.red_flags:
        assert text[hit.start : hit.end] == hit.text
    found = {h.text for h in verdict.red_flags}
    assert any("安全账户" in t for t in found) and any("屏幕共享" in t for t in found)


def test_each_checker_finds_the_red_flags_of_its_own_knowledge(checker, knowledge):
    """A second Checker built from edited rules in the same process (a test, the bench) must use
    them, not the first pipeline's."""
    flag = knowledge.shared_flags["verification_code_request"]
    text = "只在改过的规则里出现的说法"
    edited = replace(knowledge, shared_flags={**knowledge.shared_flags,
                                              flag.id: replace(flag, phrases=(*flag.phrases, text))})
    assert flag.id in {h.flag for h in Checker(edited).check(text).red_flags}
    assert flag.id not in {h.flag for h in checker.check(text).red_flags}


def test_entities_are_extracted(checker):
    text = "对方用13812345678打给我，让我在http://kf-tuikuan.top/a 填信息，我用支付宝转了3千5"
    entities = {(e.entity, e.value if e.entity in ("amount", "payment_channel") else e.text)
                for e in checker.check(text).entities}
    assert ("phone_number", "13812345678") in entities
    assert ("url", "http://kf-tuikuan.top/a") in entities
    assert ("payment_channel", "alipay") in entities
    assert ("amount", 3500) in entities


def test_probabilities_are_ranked_and_sum_below_one(checker):
    verdict = checker.check(SCAMS[0][1])
    values = list(verdict.probabilities.values())
    assert values == sorted(values, reverse=True)
    assert 0.99 <= sum(values) + (1 - verdict.scam_probability) <= 1.01


def test_the_type_model_also_weighs_whether_it_is_a_scam(checker):
    """Same scam-or-not log-odds, same words: the verdict follows what the type model reads."""
    import numpy as np

    classes = checker.classifier.classes
    doc = next(iter(checker.nlp.pipe(["他让我把钱先转过去"])))

    def row(label: str) -> np.ndarray:
        probabilities = np.full(len(classes), 0.05 / (len(classes) - 1))
        probabilities[classes.index(label)] = 0.95
        return probabilities

    reads_ordinary = checker._decide(doc, row("ordinary"), 0.0, set())
    reads_advert = checker._decide(doc, row("advert"), 0.0, set())
    reads_a_scam = checker._decide(doc, row("two_cards"), 0.0, set())
    assert reads_ordinary.scam_probability < 0.5 < reads_a_scam.scam_probability
    assert abs(reads_advert.scam_probability - reads_ordinary.scam_probability) < 1e-9
    assert reads_a_scam.scam_type == "two_cards"


def test_mixed_log_odds_averages_the_two_models():
    import math

    import numpy as np

    from knowledge.checker import mixed_log_odds

    assert mixed_log_odds(2.0, 0.2, 0.0) == pytest.approx(2.0)  # the scam-or-not model alone
    assert mixed_log_odds(2.0, 0.2, 1.0) == pytest.approx(math.log(0.8 / 0.2))  # the type model alone
    assert mixed_log_odds(2.0, 0.2, 0.5) == pytest.approx(0.5 * 2.0 + 0.5 * math.log(4.0))
    both = mixed_log_odds(np.array([0.0, 0.0]), np.array([0.0, 1.0]), 0.5)  # certain either way: finite
    assert np.isfinite(both).all() and both[0] > 0 > both[1]


def test_a_yes_to_a_follow_up_raises_the_risk(checker, knowledge):
    text = "有个网友最近天天找我聊天"
    before = checker.check(text)
    assert before.follow_up, "an unclear case offers follow-up questions"
    after = checker.check(text, confirmed=[before.follow_up[0].confirms])
    assert after.scam_probability > before.scam_probability


def test_jsonl_mode_reports_bad_lines_and_goes_on(checker):
    source = io.StringIO(
        '{"id": "a", "text": "先交保证金才能放款"}\n'
        "not json\n"
        '{"id": 7, "text": 5}\n'
        '{"id": "b", "text": "今天天气不错"}\n'
    )
    out = io.StringIO()
    errors = run_jsonl(checker, source, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert errors == 2
    assert [line["id"] for line in lines] == ["a", 2, 7, "b"]
    assert "error" in lines[1] and "error" in lines[2]
    assert set(lines[0]) >= {"id", "scam_type", "risk", "probabilities", "red_flags"}
    assert lines[0]["risk"] in ("high", "medium", "low", "none")


def test_empty_and_odd_texts_do_not_crash(checker):
    for text in ["", "   ", "😀" * 50, "a" * 20_000, "\x00\x01"]:
        assert checker.check(text).risk in ("high", "medium", "low", "none")


@pytest.mark.parametrize(
    "breakage, field",
    [
        (lambda d: d.pop("official_line"), "official_line"),
        (lambda d: d["red_flags"][0].update(weight=3), "red_flags[0].weight"),
        (lambda d: d["red_flags"][0].update(patterns=["(unclosed"]), "red_flags[0].patterns[0]"),
        (lambda d: d["red_flags"][0].update(ordinary_settings=["ok", "[unclosed"]), "red_flags[0].ordinary_settings[1]"),
        (lambda d: d["red_flags"][0].update(skips_official_links="yes"), "red_flags[0].skips_official_links"),
        (lambda d: d.update(shared_flags=["no_such_flag"]), "shared_flags[0]"),
        (lambda d: d["follow_up_questions"][0].update(confirms="no_such_flag"), "follow_up_questions[0].confirms"),
    ],
)
def test_a_malformed_file_names_file_field_and_reason(tmp_path, breakage, field):
    import yaml

    copy = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = copy / "scam_types" / "shuadan.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    breakage(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(copy)
    assert caught.value.path.endswith("shuadan.yml")
    assert caught.value.field == field
    assert caught.value.reason


def test_examples_in_a_subfolder_are_a_batch_of_their_own(tmp_path):
    """examples/<batch>/*.yml train like the others; the bench tells the rounds apart by batch."""
    copy = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (copy / "examples" / "batch9").mkdir()
    (copy / "examples" / "batch9" / "romance.yml").write_text(
        'code: romance\nexamples:\n  - {text: "网恋对象让我去他的平台充值", kind: chat}\n', encoding="utf-8")
    examples = load_knowledge(copy).examples
    added = [e for e in examples if e.batch == "batch9"]
    assert [(e.text, e.label, e.kind) for e in added] == [("网恋对象让我去他的平台充值", "romance", "chat")]
    folders = {p.name for p in (copy / "examples").iterdir() if p.is_dir()} - {"batch9"}
    assert {e.batch for e in examples if e not in added} == {"batch1"} | folders
    (copy / "examples" / "batch9" / "romance.yml").write_text(
        'code: romance\nexamples:\n  - {text: "网恋", kind: letter}\n', encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(copy)
    assert caught.value.path.endswith("batch9/romance.yml") and "kind" in caught.value.field


def test_parsed_examples_are_kept_and_an_edit_is_read_again(tmp_path, monkeypatch):
    """The parsed examples come from the cache only while the files are byte for byte the same;
    an edit, a malformed file or a tampered cache file is read from the YAML again."""
    from knowledge import filecache

    monkeypatch.setattr(filecache, "CACHE_DIR", tmp_path / "cache")
    copy = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    first = load_knowledge(copy).examples
    [kept] = list((tmp_path / "cache").glob("examples-*.json"))
    assert load_knowledge(copy).examples == first

    kept.write_text('[["假的", "no_such_label", "chat", "batch1"]]', encoding="utf-8")
    assert load_knowledge(copy).examples == first  # a tampered cache file is not believed

    path = copy / "examples" / "romance.yml"
    path.write_text(path.read_text(encoding="utf-8") + '- {text: "网友让我去他的平台充值", kind: chat}\n', encoding="utf-8")
    assert Example("网友让我去他的平台充值", "romance", "chat") in load_knowledge(copy).examples

    path.write_text(path.read_text(encoding="utf-8") + '- {text: "网恋", kind: letter}\n', encoding="utf-8")
    with pytest.raises(KnowledgeError):
        load_knowledge(copy)


@pytest.mark.parametrize(
    "breakage, field",
    [
        (lambda d: d["calm_signs"][0].update(weight=2), "calm_signs[0].weight"),
        (lambda d: d["calm_signs"][0].update(rebuts="yes"), "calm_signs[0].rebuts"),
        (lambda d: d["calm_signs"][0].update(severity="critical"), "calm_signs[0].severity"),
        (lambda d: d["calm_signs"][1].update(id=d["calm_signs"][0]["id"]), "calm_signs[1].id"),
    ],
)
def test_a_malformed_calm_signs_file_names_field_and_reason(tmp_path, breakage, field):
    import yaml

    copy = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = copy / "calm_signs.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    breakage(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(copy)
    assert caught.value.path.endswith("calm_signs.yml")
    assert caught.value.field == field
    assert caught.value.reason


def test_invalid_yaml_is_reported(tmp_path):
    copy = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (copy / "faq.yml").write_text("faqs: [unclosed", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="faq.yml: field '\\(file\\)': not valid YAML"):
        load_knowledge(copy)


def test_amount_entities_have_exact_spans(checker):
    text = "他说先交10万能保本，我转了三千八给他"
    amounts = [e for e in checker.check(text).entities if e.entity == "amount"]
    assert [(e.text, e.value) for e in amounts] == [("10万", 100000), ("三千八", 3800)]
    for e in amounts:
        assert text[e.start : e.end] == e.text


def test_checker_start_imports_neither_tensorflow_nor_scikit_learn(tmp_path):
    """spaCy's thinc would import TensorFlow (seconds) unless the checker keeps it out; with a
    warm classifier cache, scikit-learn is not needed either."""
    import os
    import subprocess
    import sys

    code = (
        "import sys; from knowledge.checker import Checker; Checker().check('转到安全账户'); "
        "print('tensorflow' in sys.modules, 'sklearn' in sys.modules); "
        "import thinc.compat; print(thinc.compat.has_tensorflow)"
    )
    env = {**os.environ, "FANZHA_CHECKER_CACHE": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)
            for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    assert runs[0].stdout.split() == ["False", "True", "False"]  # cold: the classifier is trained
    assert runs[1].stdout.split() == ["False", "False", "False"]  # warm: read from the cache


# --- the classifier and its cache -------------------------------------------------------


def _few_examples(knowledge, per_label=6):
    chosen, seen = [], {}
    for e in knowledge.examples:
        if seen.get(e.label, 0) < per_label:
            chosen.append(e)
            seen[e.label] = seen.get(e.label, 0) + 1
    return chosen


def test_ngrams_match_scikit_learn(knowledge):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from knowledge.classifier import Ngrams

    texts = [e.text for e in knowledge.examples[:400]]
    ours, matrix = Ngrams.fit(texts, words=True)
    theirs = TfidfVectorizer(analyzer=ours.terms, sublinear_tf=True)
    expected = theirs.fit_transform(texts)
    assert ours.vocabulary == theirs.vocabulary_
    assert any(term.startswith("\x01") for term in ours.vocabulary)  # jieba words beside the characters
    assert abs(matrix - expected).max() < 1e-12
    unseen = [t for _, t in SCAMS] + ORDINARY + ["", "  ", "AB  c\n\n d", "\x00x"]
    assert abs(ours.transform(unseen) - theirs.transform(unseen)).max() < 1e-12


def test_probabilities_match_scikit_learn(knowledge):
    from sklearn.linear_model import SGDClassifier

    from knowledge.classifier import Ngrams, TypeClassifier
    from knowledge.loader import NOT_SCAM

    examples = _few_examples(knowledge, 20)
    ours = TypeClassifier(examples)
    features, matrix = Ngrams.fit([e.text for e in examples], TypeClassifier.WORDS)
    types = SGDClassifier(alpha=TypeClassifier.DEFAULT_ALPHA, **TypeClassifier.MODEL).fit(matrix, [e.label for e in examples])
    scam = SGDClassifier(alpha=TypeClassifier.SCAM_ALPHA, **TypeClassifier.MODEL).fit(
        matrix, [e.label not in NOT_SCAM for e in examples])
    unseen = [t for _, t in SCAMS] + ORDINARY
    probabilities, log_odds = ours.scores(unseen)
    assert ours.classes == list(types.classes_)
    assert abs(probabilities - types.predict_proba(features.transform(unseen))).max() < 1e-9
    assert abs(log_odds - scam.decision_function(features.transform(unseen))).max() < 1e-9


def test_the_classifier_reads_the_checkers_own_words_whole(knowledge):
    import numpy as np

    from knowledge.checker import Checker
    from knowledge.classifier import Ngrams, TypeClassifier

    text = "客服让我開啟螢幕共享，再把钱转到安全帐户，加QQ群"
    plain = Ngrams({}, np.zeros(0), True).terms(text)
    ours = Ngrams({}, np.zeros(0), True, ("安全账户", "屏幕共享", "QQ群")).terms(text)  # normalised as the text is
    assert "\x01安全" in plain and "\x01安全账户" not in plain
    assert {"\x01安全账户", "\x01屏幕共享", "\x01qq群"} <= set(ours) and "\x01安全" not in ours

    checker = Checker(knowledge)
    assert "安全账户" in checker.dictionary and "屏幕共享" in checker.dictionary
    assert checker.classifier.features.dictionary == tuple(sorted(checker.dictionary))
    examples = _few_examples(knowledge)
    own = TypeClassifier(examples, dictionary=checker.dictionary)
    assert any(term == "\x01安全账户" for term in own.features.vocabulary)
    assert not any(term == "\x01安全账户" for term in TypeClassifier(examples).features.vocabulary)


def test_masked_and_real_numbers_and_links_look_alike_to_the_classifier():
    from knowledge.classifier import feature_text

    real = feature_text("【某店】会员日满199减50，详询400-820-1234，戳 http://s.shop-example.cn/a8Kx 回TD退订")
    masked = feature_text("【某店】会员日满xxx减xx，详询400-xxx-xxxx，戳 [链接] 回TD退订")
    assert "网址cn" in real and "电话" in real and "199" not in real
    assert real.count("0") >= 2 and masked.count("0") >= 2
    assert feature_text("轉帳到安全帳戶") == feature_text("转账到安全账户")


def test_classifier_cache_round_trip_and_repair(knowledge, tmp_path):
    from knowledge.classifier import TypeClassifier

    examples = _few_examples(knowledge)
    texts = [t for _, t in SCAMS] + ORDINARY
    trained = TypeClassifier.cached(examples, cache_dir=tmp_path)
    [stored] = list(tmp_path.glob("classifier-*.npz"))
    loaded = TypeClassifier.cached(examples, cache_dir=tmp_path)
    assert loaded is not trained and loaded.classes == trained.classes
    assert (loaded.predict_proba(texts) == trained.predict_proba(texts)).all()

    stored.write_bytes(b"not a numpy file")  # a damaged cache is retrained and rewritten
    repaired = TypeClassifier.cached(examples, cache_dir=tmp_path)
    assert (repaired.predict_proba(texts) == trained.predict_proba(texts)).all()
    assert stored.stat().st_size > 1000

    other_words = TypeClassifier.cached(examples, cache_dir=tmp_path, dictionary=("安全账户",))
    assert other_words.features.dictionary == ("安全账户",)  # other words: a model of its own
    assert len(list(tmp_path.glob("classifier-*.npz"))) == 2

    for n in range(1, 6):  # other examples, other files; only the most recently used few are kept
        changed = TypeClassifier.cached(examples[:n] + examples[n + 1 :], cache_dir=tmp_path)
        assert changed.classes == trained.classes
    kept = list(tmp_path.glob("classifier-*.npz"))
    assert len(kept) == 4 and stored not in kept


def test_classifier_works_when_the_cache_cannot_be_written(knowledge, tmp_path):
    from knowledge.classifier import TypeClassifier

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    classifier = TypeClassifier.cached(_few_examples(knowledge), cache_dir=blocker / "cache")
    assert classifier.predict_proba(["转到安全账户"]).shape == (1, len(classifier.classes))
