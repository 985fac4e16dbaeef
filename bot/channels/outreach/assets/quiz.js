/* "是不是诈骗？": show a message, count the audience's votes, reveal the answer and the live checker's verdict. */
"use strict";

(function () {
  const V = window.fanzhaVerdict;
  const $ = (id) => document.getElementById(id);
  const parts = { risk: $("risk"), headline: $("headline"), flags: $("flags") };
  let questions = [];
  let index = 0;
  let revealed = false;
  let busy = false;
  const tally = { scam: 0, ok: 0 };

  function showQuestion() {
    const question = questions[index];
    revealed = false;
    tally.scam = tally.ok = 0;
    $("from").textContent = question.from;
    $("message").replaceChildren(question.text);
    $("reveal").hidden = true;
    $("votes").hidden = false;
    document.body.dataset.number = String(question.number);
    delete document.body.dataset.revealed;
    update();
  }

  async function reveal() {
    if (busy) return;
    busy = true;
    try {
      const data = await V.fetchJson(`/demo/api/quiz/${questions[index].number}`);
      $("message").replaceChildren(V.highlighted(data.text, 0, data.verdict.highlights));
      $("answer").textContent = data.answer;
      $("answer").className = "answer " + (data.scam ? "is-scam" : "is-ok");
      $("why").textContent = data.why;
      V.show(data.verdict, parts);
      $("reveal").hidden = false;
      revealed = true;
      document.body.dataset.revealed = "true";
      $("error").hidden = true;
    } catch (error) {
      $("error").textContent = "没有拿到反诈助手的判断，请检查服务是否在运行。(" + error.message + ")";
      $("error").hidden = false;
    } finally {
      busy = false;
      update();
    }
  }

  function vote(which) {
    if (revealed) return;
    tally[which] += 1;
    update();
  }

  function forward() {
    if (!revealed) reveal();
    else if (index < questions.length - 1) { index += 1; showQuestion(); }
  }

  function back() {
    if (index > 0) { index -= 1; showQuestion(); }
  }

  function update() {
    $("counter").textContent = questions.length ? `第 ${index + 1} / ${questions.length} 题` : "";
    $("tally-scam").textContent = tally.scam;
    $("tally-ok").textContent = tally.ok;
    $("prev").disabled = index === 0;
    $("next").disabled = revealed && index >= questions.length - 1;
    $("next").textContent = !revealed ? "揭晓答案 ›" : index >= questions.length - 1 ? "问答结束" : "下一题 ›";
  }

  $("vote-scam").addEventListener("click", () => vote("scam"));
  $("vote-ok").addEventListener("click", () => vote("ok"));
  $("next").addEventListener("click", forward);
  $("prev").addEventListener("click", back);
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "1") vote("scam");
    else if (event.key === "2") vote("ok");
    else if (["ArrowRight", " ", "PageDown", "Enter"].includes(event.key)) { event.preventDefault(); forward(); }
    else if (["ArrowLeft", "PageUp"].includes(event.key)) { event.preventDefault(); back(); }
    else if (event.key === "Escape") window.location.href = "/demo";
  });

  V.fetchJson("/demo/api/quiz").then((list) => {
    questions = list;
    showQuestion();
  }).catch((error) => {
    $("error").textContent = "没有拿到问答题目，请检查服务是否在运行。(" + error.message + ")";
    $("error").hidden = false;
  });
})();
