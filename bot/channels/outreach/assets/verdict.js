/* Shared by the scenario player and the quiz: draw a checker verdict (from the outreach API). */
"use strict";

window.fanzhaVerdict = (function () {
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /* The text with the given [start, end) spans (in `offset`-shifted coordinates) in <mark>.
     The server counts characters (code points), so the text is cut by code points too. */
  function highlighted(whole, offset, spans) {
    const text = Array.from(whole);
    const out = document.createDocumentFragment();
    let at = 0;
    for (const [start, end] of spans) {
      const from = Math.max(start - offset, at), to = Math.min(end - offset, text.length);
      if (to <= from) continue;
      if (from > at) out.append(text.slice(at, from).join(""));
      out.append(el("mark", "", text.slice(from, to).join("")));
      at = to;
    }
    if (at < text.length) out.append(text.slice(at).join(""));
    return out;
  }

  function show(verdict, parts) {
    parts.risk.className = "risk risk-" + verdict.risk;
    parts.risk.dataset.risk = verdict.risk;
    parts.risk.replaceChildren(el("span", "dot"), verdict.risk_colour);
    parts.headline.textContent = verdict.headline;
    if (parts.official) parts.official.textContent = verdict.official_line;
    const flags = verdict.flags.slice().sort((a, b) => (b.new - a.new) || (a.start - b.start));
    // What this step found, with its reason; what earlier steps found, as short quotes.
    parts.flags.replaceChildren(...flags.map((flag) => {
      const item = el("li", flag.new ? "new" : "old");
      item.dataset.flag = flag.flag;
      item.append(el("q", "", flag.text));
      if (flag.new) item.append(" " + flag.label);
      else item.title = flag.label;
      return item;
    }));
    if (parts.advice) parts.advice.replaceChildren(...verdict.advice.map((line) => el("li", "", line)));
  }

  async function fetchJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(url + ": " + response.status);
    return response.json();
  }

  return { el, highlighted, show, fetchJson };
})();
