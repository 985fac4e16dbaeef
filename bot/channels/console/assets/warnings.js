/* The centre's early warnings: open ones by level and age (polled every 5 s), one warning's full
   number and audit trail, a form to add one, and an outcome to close it. Every text is shown
   with textContent; every POST carries the session's CSRF token. */
(function () {
  "use strict";

  var KINDS = { imported: "收到预警", merged: "合并", call: "打给居民", desk_call: "通知值班民警", sms: "短信",
                answer: "居民回答", outcome: "结果", error: "出错" };
  var STATES = { placing: "正在拨打", placed: "已拨出", queued: "排队中", ringing: "响铃", "in-progress": "通话中",
                 completed: "已结束", busy: "占线", "no-answer": "无人接听", failed: "失败", canceled: "已取消",
                 machine: "语音信箱", error: "出错", money_moving: "正在转账", paid: "已经转账", no_response: "没有回应" };
  var me = null;
  var outcomes = {}, levels = {};  // code → label, from the server
  var openId = null;

  function $(id) { return document.getElementById(id); }

  function api(path, body) { return window.consoleApi(path, body, me ? me.csrf : ""); }  // console_api.js

  function age(minutes) {
    if (minutes < 60) return minutes + " 分钟";
    if (minutes < 24 * 60) return Math.floor(minutes / 60) + " 小时 " + (minutes % 60) + " 分";
    return Math.floor(minutes / 1440) + " 天 " + Math.floor((minutes % 1440) / 60) + " 小时";
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) : "-";
  }

  function actor(text) {
    var parts = String(text || "").split(":");
    var rest = parts.slice(1).join(":");
    switch (parts[0]) {
      case "console": return "值班台 " + rest;
      case "import": return "导入 " + rest;
      case "dispatcher": return "自动拨打";
      case "call": return "电话流程";
      case "cli": return "命令行";
      default: return text;
    }
  }

  function state(event) {
    if (event.kind === "outcome" && outcomes[event.state]) return outcomes[event.state];
    if ((event.kind === "imported" || event.kind === "merged") && levels[event.state]) return levels[event.state];
    return STATES[event.state] || event.state;
  }

  function lastText(event) {
    return event ? (KINDS[event.kind] || event.kind) + " · " + state(event) : "-";
  }

  // The level as a word in a coloured label: never colour alone.
  function levelBadge(w) {
    var span = document.createElement("span");
    span.className = "level level-" + w.level;
    span.textContent = w.level_label + (w.urgent ? " · 紧急" : "");
    return span;
  }

  function visitBadge() {
    var span = document.createElement("span");
    span.className = "visit";
    span.textContent = "上门";
    span.title = "电话都打过仍联系不上：请安排上门，回来后记录结果";
    return span;
  }

  function cell(row, content, className) {
    var td = document.createElement("td");
    if (typeof content === "string") td.textContent = content; else td.appendChild(content);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function showList(data) {
    outcomes = data.outcomes;
    levels = data.levels;
    var body = $("warnings");
    body.textContent = "";
    data.warnings.forEach(function (w) {
      var row = document.createElement("tr");
      row.setAttribute("data-warning", w.id);
      row.setAttribute("data-level", w.level);
      row.className = (w.urgent ? "urgent" : "") + (openId === w.id ? " selected" : "");
      cell(row, String(w.id));
      var level = cell(row, levelBadge(w));
      if (w.needs_visit) level.appendChild(visitBadge());
      cell(row, w.phone, "phone-masked");
      cell(row, w.scam_type_name || "-");
      cell(row, age(w.age_minutes));
      cell(row, w.calls_made + " 次");
      cell(row, lastText(w.last_event));
      row.addEventListener("click", function () { open(w.id); });
      body.appendChild(row);
    });
    $("counts").textContent = "红色 " + data.counts.red + " · 橙色 " + data.counts.orange + " · 黄色 " + data.counts.yellow;
    $("empty").hidden = data.warnings.length > 0;
    fillSelects(data);
  }

  var filled = false;
  function fillSelects(data) {
    if (filled) return;
    filled = true;
    Object.keys(data.outcomes).forEach(function (code) {
      var option = document.createElement("option");
      option.value = code;
      option.textContent = data.outcomes[code];
      $("outcome").appendChild(option);
    });
    Object.keys(data.scam_types).forEach(function (code) {
      var option = document.createElement("option");
      option.value = code;
      option.textContent = data.scam_types[code];
      $("add-scam-type").appendChild(option);
    });
  }

  function pollList() {
    return api("warnings").then(function (data) {
      $("list-error").textContent = "";
      showList(data);
    }).catch(function (error) { $("list-error").textContent = error.message; });
  }

  function showDetail(w) {
    $("detail").hidden = false;
    $("d-id").textContent = String(w.id);
    var level = $("d-level");
    level.className = "level level-" + w.level;
    level.textContent = w.level_label + (w.urgent ? " · 紧急" : "");
    $("d-visit").hidden = !w.needs_visit;
    $("d-phone").textContent = w.phone.replace(/^\+86/, "");
    $("d-scam").textContent = w.scam_type_name || "-";
    $("d-source").textContent = w.source;
    $("d-received").textContent = when(w.received_at) + "（" + age(w.age_minutes) + "前）";
    $("d-calls").textContent = w.calls_made + " 次";
    $("d-next").textContent = w.status === "open" ? when(w.next_attempt_at) : "-";
    $("d-merged").textContent = w.merged ? w.merged + " 条重复预警已合并" : "-";
    $("d-note").textContent = w.note || "-";
    $("d-outcome").textContent = w.outcome ? w.outcome_label + "（" + actor(w.outcome_by) + "）" : "未结束";
    var events = $("d-events");
    events.textContent = "";
    w.events.forEach(function (e) {
      var row = document.createElement("tr");
      row.setAttribute("data-kind", e.kind);
      cell(row, when(e.at));
      cell(row, KINDS[e.kind] || e.kind);
      cell(row, state(e));
      cell(row, actor(e.actor));
      cell(row, e.detail || "");
      events.appendChild(row);
    });
  }

  function open(id) {
    openId = id;
    $("d-error").textContent = "";
    $("outcome-note").value = "";
    Array.prototype.forEach.call(document.querySelectorAll("#warnings tr"), function (row) {
      row.classList.toggle("selected", row.getAttribute("data-warning") === String(id));
    });
    return api("warnings/" + id).then(showDetail).catch(function (error) { $("d-error").textContent = error.message; });
  }

  $("outcome-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("d-error").textContent = "";
    var id = openId;
    api("warnings/" + id + "/outcome", { outcome: $("outcome").value, note: $("outcome-note").value })
      .then(function () { $("outcome-note").value = ""; return Promise.all([open(id), pollList()]); })
      .catch(function (error) { $("d-error").textContent = error.message; });
  });

  $("add-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("add-error").textContent = "";
    $("add-result").textContent = "";
    var body = {};
    ["phone", "level", "scam_type", "source", "time", "note"].forEach(function (field) {
      body[field] = $("add-form").elements[field].value;
    });
    api("warnings", body).then(function (data) {
      $("add-result").textContent = data.merged
        ? "同一号码已有未结束的预警，已合并到 #" + data.warning.id + "。"
        : "已录入 #" + data.warning.id + "（" + data.warning.level_label + "）。";
      ["phone", "time", "note"].forEach(function (field) { $("add-form").elements[field].value = ""; });
      return pollList();
    }).catch(function (error) { $("add-error").textContent = error.message; });
  });

  api("me").then(function (data) {
    me = data;
    $("who").textContent = data.agent;
    pollList();
    window.setInterval(function () {
      pollList();
      if (openId !== null) api("warnings/" + openId).then(showDetail).catch(function () { /* next time */ });
    }, 5000);
  });
})();
