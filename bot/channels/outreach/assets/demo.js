/* The scenario player: one click, → or space per step; each step asks the server's live checker. */
"use strict";

(function () {
  const V = window.fanzhaVerdict;
  const body = document.body;
  const code = body.dataset.code;
  const total = Number(body.dataset.steps);
  const $ = (id) => document.getElementById(id);
  const parts = { risk: $("risk"), headline: $("headline"), official: $("official"), flags: $("flags"), advice: $("advice") };
  let step = 0;
  let busy = false;

  function render(data) {
    const log = $("log");
    log.replaceChildren(...data.messages.map((message, i) => {
      const item = V.el("li", "msg " + message.who + (i < data.messages.length - 2 ? " older" : ""));
      item.dataset.start = message.start;
      if (message.via) item.append(V.el("span", "via", message.via));
      const bubble = V.el("span", "bubble");
      bubble.append(V.highlighted(message.text, message.start, data.verdict.highlights));
      item.append(bubble);
      return item;
    }));
    log.lastElementChild.scrollIntoView({ block: "end" });
    $("assistant").hidden = false;
    V.show(data.verdict, parts);
    body.dataset.shownStep = String(data.step);
  }

  async function go(to) {
    if (busy || to < 1 || to > total) return;
    busy = true;
    try {
      const data = await V.fetchJson(`/demo/api/scenarios/${encodeURIComponent(code)}/steps/${to}`);
      step = to;
      render(data);
      $("error").hidden = true;
    } catch (error) {
      $("error").textContent = "没有拿到反诈助手的判断，请检查服务是否在运行。(" + error.message + ")";
      $("error").hidden = false;
    } finally {
      busy = false;
      update();
    }
  }

  function update() {
    $("counter").textContent = step ? `第 ${step} / ${total} 步` : `共 ${total} 步`;
    $("prev").disabled = step <= 1;
    $("next").disabled = step >= total;
    $("next").textContent = step === 0 ? "开始 ›" : step >= total ? "演示结束" : "下一步 ›";
  }

  $("next").addEventListener("click", () => go(step + 1));
  $("prev").addEventListener("click", () => go(step - 1));
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (["ArrowRight", " ", "PageDown", "Enter"].includes(event.key)) {
      event.preventDefault();
      go(step + 1);
    } else if (["ArrowLeft", "PageUp", "Backspace"].includes(event.key)) {
      event.preventDefault();
      go(step - 1);
    } else if (event.key === "Escape") {
      window.location.href = "/demo";
    }
  });
  update();
})();
