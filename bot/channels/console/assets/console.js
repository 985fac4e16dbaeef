/* The duty officer's console: the live queue (polled every 2 s), one ticket's summary and
   transcript (polled every second), claim, reply, hand back, close, how many call-backs and
   SMS the daily caps refused (every 30 s), and how many red warnings are open (every 10 s).
   Every text is shown with textContent; every POST carries the session's CSRF token. */
(function () {
  "use strict";

  var STATUS = { waiting: "等待接手", claimed: "处理中", returned: "已交回助手", closed: "已结束", unanswered: "无人接手" };
  var RISK = { high: "高", medium: "中", low: "低", none: "未发现" };
  var WHO = { user: "居民", bot: "反诈助手", agent: "值班人员" };
  var me = null;
  var current = null; // { id, next, status, claimed_by }

  function $(id) { return document.getElementById(id); }

  function api(path, body) { return window.consoleApi(path, body, me ? me.csrf : ""); }  // console_api.js

  function minutes(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m ? m + " 分 " + s + " 秒" : s + " 秒";
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
  }

  function showQueue(data) {
    var body = $("tickets");
    body.textContent = "";
    data.tickets.forEach(function (t) {
      var row = document.createElement("tr");
      row.setAttribute("data-ticket", t.id);
      if (current && current.id === t.id) row.className = "selected";
      cell(row, String(t.id));
      cell(row, t.reason_label);
      cell(row, RISK[t.risk] || "-", t.risk ? "risk-" + t.risk : "");
      cell(row, t.channel);
      cell(row, minutes(t.waiting_seconds), "waiting");
      cell(row, t.claimed_by ? STATUS[t.status] + "（" + t.claimed_by + "）" : STATUS[t.status]);
      row.addEventListener("click", function () { open(t.id); });
      body.appendChild(row);
    });
    $("count").textContent = "(" + data.tickets.length + ")";
    $("empty").hidden = data.tickets.length > 0;
  }

  function pollQueue() {
    api("tickets").then(showQueue).catch(function () { /* shown on the next poll */ });
  }

  // Call-backs and SMS refused over the daily caps: counts only, never who.
  function pollRefusals() {
    api("refusals").then(function (data) {
      ["today", "recent"].forEach(function (when) {
        ["callback", "sms"].forEach(function (kind) {
          $("refused-" + kind + "-" + when).textContent = String(data[when][kind]);
        });
      });
    }).catch(function () { /* shown on the next poll */ });
  }

  // Open red warnings (console_warnings.py), on the link to their page: the desk must not miss one.
  function pollWarnings() {
    api("warnings?brief=1").then(function (data) {
      $("warnings-red").textContent = data.counts.red ? "（红色 " + data.counts.red + "，紧急）" : "";
    }).catch(function () { /* shown on the next poll */ });
  }

  function entry(e) {
    var item = document.createElement("li");
    item.className = e.who;
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = (e.agent ? WHO.agent + " " + e.agent : WHO[e.who]) + " · " + new Date(e.time * 1000).toLocaleTimeString("zh-CN");
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = e.text;
    item.appendChild(who);
    item.appendChild(text);
    return item;
  }

  function showTicket(t, fresh) {
    $("ticket").hidden = false;
    $("t-id").textContent = t.id;
    $("t-status").textContent = STATUS[t.status] || t.status;
    $("t-reason").textContent = t.reason_label;
    $("t-channel").textContent = t.channel;
    $("t-scam").textContent = t.scam_type || "-";
    $("t-risk").textContent = RISK[t.risk] || "-";
    $("t-wait").textContent = minutes(t.waiting_seconds);
    $("t-agent").textContent = t.claimed_by || "-";
    if (fresh) {
      var report = $("t-report");
      report.textContent = "";
      var fields = (t.details && t.details.report) || {};
      Object.keys(fields).forEach(function (key) {
        var dt = document.createElement("dt"), dd = document.createElement("dd");
        dt.textContent = key.replace(/^report_/, "");
        dd.textContent = Array.isArray(fields[key]) ? fields[key].join("、") : String(fields[key]);
        report.appendChild(dt);
        report.appendChild(dd);
      });
      if (!report.childElementCount) report.textContent = "（还没有）";
      $("t-log").textContent = "";
    }
    var log = $("t-log");
    var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    t.entries.forEach(function (e) { log.appendChild(entry(e)); });
    if (t.entries.length && (fresh || atBottom)) log.scrollTop = log.scrollHeight;
    var mine = t.status === "claimed" && t.claimed_by === me.agent;
    $("claim").hidden = t.status !== "waiting";
    $("reply-form").hidden = !mine;
    $("finish").hidden = !(mine || t.status === "waiting");
    $("handback").hidden = !mine;
    current = { id: t.id, next: t.next, status: t.status };
  }

  function open(id) {
    $("t-error").textContent = "";
    current = { id: id, next: 0 };
    api("tickets/" + id).then(function (t) { showTicket(t, true); pollQueue(); }).catch(fail);
  }

  var polling = false;

  function pollTicket() {
    if (!current || polling) return;
    var id = current.id, since = current.next;
    polling = true;
    api("tickets/" + id + "?since=" + since).then(function (t) {
      // Only the answer to the latest cursor is shown: no line twice.
      if (current && current.id === id && current.next === since) showTicket(t, false);
    }).catch(function () { /* try again next second */ }).then(function () { polling = false; });
  }

  function fail(error) { $("t-error").textContent = error.message; }

  function act(path, body) {
    $("t-error").textContent = "";
    return api("tickets/" + current.id + "/" + path, body || {}).then(function () {
      pollTicket();
      pollQueue();
    }).catch(fail);
  }

  $("claim").addEventListener("click", function () { act("claim"); });
  $("handback").addEventListener("click", function () { act("handback"); });
  $("close").addEventListener("click", function () { act("close", { outcome: $("outcome").value }); });
  $("reply-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("reply").value;
    if (!text.trim()) return;
    act("reply", { text: text }).then(function () { $("reply").value = ""; });
  });
  $("reply").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      $("reply-form").requestSubmit();
    }
  });
  $("logout").addEventListener("click", function () {
    api("logout", {}).then(function () { window.location.assign("/console/login"); });
  });

  api("me").then(function (data) {
    me = data;
    $("who").textContent = data.agent + " · 值班时间 " + data.duty_hours;
    $("trends-link").hidden = (data.roles || []).indexOf("supervisor") < 0;
    var select = $("outcome");
    Object.keys(data.outcomes).forEach(function (code) {
      var option = document.createElement("option");
      option.value = code;
      option.textContent = data.outcomes[code];
      select.appendChild(option);
    });
    pollQueue();
    pollRefusals();
    pollWarnings();
    window.setInterval(pollQueue, 2000);
    window.setInterval(pollWarnings, 10000);
    window.setInterval(pollRefusals, 30000);
    window.setInterval(pollTicket, 1000);
  });
})();
