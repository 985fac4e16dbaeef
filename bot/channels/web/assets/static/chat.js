/* The chat page: talks to Rasa's socket.io channel, keeps the conversation in localStorage
   so a reload (or closing the tab) loses nothing, and shows every text with textContent.
   A picture (chosen with the button, or pasted) is posted to the server with the session's
   token; the answers come over the socket like any other. The picture itself is not kept. */
(function () {
  "use strict";

  var STORE_KEY = "fanzha.chat.v1";
  var MAX_KEPT = 300; // messages kept in localStorage
  // A verdict starts with its level in words (actions/check.py, knowledge/checker.py RISK_COLOURS).
  var RISK_BY_WORD = { "红色": "high", "橙色": "medium", "黄色": "low", "未发现": "none" };
  var UI = {
    you: "您说：",
    bot: "反诈助手说：",
    connecting: "正在连接……",
    offline: "连接断开了，正在重新连接。您写的话会在连上后发出。",
    waiting: "反诈助手正在回复……",
    notSaved: "（这条消息没有保存）",
    restart: "清除这段对话，重新开始吗？"
  };

  var body = document.body;
  var log = document.getElementById("log");
  var statusLine = document.getElementById("status");
  var replies = document.getElementById("replies");
  var form = document.getElementById("composer");
  var input = document.getElementById("message");
  var pictureButton = document.getElementById("picture-button");
  var pictureInput = document.getElementById("picture");
  // What the page says about pictures (bot/channels/notices.yml) and the server's size cap.
  var PICTURE = JSON.parse(body.getAttribute("data-picture-texts"));
  var MAX_PICTURE_BYTES = Number(body.getAttribute("data-picture-max-bytes"));

  var state = load();
  var ready = false; // session confirmed: replies for our session_id reach this socket
  var outbox = []; // messages typed while not ready
  var pictureOutbox = []; // pictures chosen while not ready (kept in memory only)

  function load() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(STORE_KEY) || "null");
      if (saved && Array.isArray(saved.messages)) {
        return { sessionId: saved.sessionId || null, sessionToken: saved.sessionToken || null, messages: saved.messages };
      }
    } catch (e) { /* unreadable or blocked storage: start afresh */ }
    return { sessionId: null, sessionToken: null, messages: [] };
  }

  function save() {
    var kept = state.messages.filter(function (m) { return !m.pending; }).slice(-MAX_KEPT);
    try {
      window.localStorage.setItem(STORE_KEY, JSON.stringify({
        sessionId: state.sessionId, sessionToken: state.sessionToken, messages: kept
      }));
    } catch (e) { /* storage full or blocked: the chat still works, only without memory */ }
  }

  function riskOf(text) {
    var found = /^风险等级：(红色|橙色|黄色|未发现)/.exec(text.trim());
    return found ? RISK_BY_WORD[found[1]] : null;
  }

  function bubble(message) {
    var item = document.createElement("li");
    item.className = "msg " + (message.from === "user" ? "user" : "bot");
    if (message.risk) item.setAttribute("data-risk", message.risk);
    var who = document.createElement("span");
    who.className = "sr-only";
    who.textContent = message.from === "user" ? UI.you : UI.bot;
    var text = document.createElement("span");
    text.className = "msg-text";
    text.textContent = message.text;
    item.appendChild(who);
    item.appendChild(text);
    return item;
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  /* The quick replies on offer: those of the latest bot message that has some, since the
     resident last wrote. An answer often comes as several messages; a later one without
     buttons must not take away (or redraw, losing keyboard focus) the buttons of an earlier one. */
  function repliesOnOffer(messages) {
    for (var i = messages.length - 1; i >= 0 && messages[i].from === "bot"; i--) {
      if (messages[i].replies && messages[i].replies.length) return messages[i].replies;
    }
    return [];
  }

  var shownReplies = null;

  function showReplies(options) {
    if (options === shownReplies) return;
    shownReplies = options;
    replies.textContent = "";
    (options || []).forEach(function (option) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "reply";
      button.textContent = option.title;
      button.addEventListener("click", function () {
        send(option.payload, option.title, false);
        input.focus();
      });
      replies.appendChild(button);
    });
    replies.hidden = !replies.childElementCount;
  }

  /* A long answer is read from its first line: the first reply after the resident's message
     is scrolled to the top of the view, later ones do not move it away. */
  var firstReply = null;

  function add(message) {
    state.messages.push(message);
    var item = bubble(message);
    log.appendChild(item);
    showReplies(repliesOnOffer(state.messages));
    if (message.from === "bot") {
      firstReply = firstReply || item;
      log.scrollTop = firstReply.offsetTop - 8;
    } else {
      firstReply = null;
      scrollDown();
    }
    return item;
  }

  function setStatus(text) {
    statusLine.textContent = text || "";
  }

  function emitMessage(text) {
    socket.emit("user_uttered", { message: text, session_id: state.sessionId });
  }

  /* payload goes to the assistant; shown is what the transcript shows. Typed text is
     replaced by its masked form (codes, passwords, card numbers hidden) before it is kept. */
  function send(payload, shown, typed) {
    if (!payload.trim()) return;
    var message = { from: "user", text: shown, pending: typed };
    var item = add(message);
    if (ready) emitMessage(payload); else outbox.push(payload);
    setStatus(ready ? UI.waiting : UI.offline);
    if (typed) {
      masked(payload).then(function (text) {
        message.text = text;
        item.querySelector(".msg-text").textContent = text;
      }, function () {
        message.text = UI.notSaved;
      }).then(function () {
        message.pending = false;
        save();
      });
    } else {
      save();
    }
  }

  /* A notice of the page's own, shown as the assistant's (a picture refused before sending). */
  function notice(text) {
    add({ from: "bot", text: text, risk: null, replies: [] });
    setStatus("");
    save();
  }

  function sendPicture(file) {
    if (!file) return;
    if (file.type && file.type.indexOf("image/") !== 0) { notice(PICTURE.not_image); return; }
    if (file.size > MAX_PICTURE_BYTES) { notice(PICTURE.too_big); return; }
    add({ from: "user", text: PICTURE.sent });
    save();
    if (ready) postPicture(file); else pictureOutbox.push(file);
    setStatus(ready ? PICTURE.reading : UI.offline);
  }

  function postPicture(file) {
    window.fetch(body.getAttribute("data-picture-url"), {
      method: "POST",
      headers: {
        "Content-Type": file.type || "application/octet-stream",
        "X-Fanzha-Session": state.sessionId,
        "X-Fanzha-Session-Token": state.sessionToken || ""
      },
      body: file,
      credentials: "same-origin"
    }).then(function (response) {
      // A refused request gets no answer over the socket: say why here.
      if (!response.ok) notice(response.status === 413 ? PICTURE.too_big : PICTURE.failed);
    }, function () {
      notice(PICTURE.failed);
    });
  }

  function masked(text) {
    return window.fetch(body.getAttribute("data-mask-url"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: text }),
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) throw new Error("mask " + response.status);
      return response.json();
    }).then(function (data) { return data.text; });
  }

  function received(data) {
    if (!data || typeof data.text !== "string" || !data.text.trim()) return;
    var options = (data.quick_replies || data.buttons || []).filter(function (o) {
      return o && typeof o.title === "string" && typeof o.payload === "string";
    }).map(function (o) { return { title: o.title, payload: o.payload }; });
    add({ from: "bot", text: data.text, risk: riskOf(data.text), replies: options });
    setStatus("");
    save();
  }

  // Restore the transcript first, then announce only what arrives from now on.
  state.messages.forEach(function (m) { log.appendChild(bubble(m)); });
  showReplies(repliesOnOffer(state.messages));
  scrollDown();
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");

  setStatus(UI.connecting);
  var socket = window.io({ path: body.getAttribute("data-socketio-path") });

  /* The server resumes a session only with the token it gave with it (bot/channels/
     session_tokens.py); without it, it starts a new one. */
  socket.on("connect", function () {
    ready = false;
    socket.emit("session_request", { session_id: state.sessionId, session_token: state.sessionToken });
  });

  socket.on("session_confirm", function (session) {
    var fresh = !state.sessionId || !state.messages.length;
    state.sessionId = typeof session === "string" ? session : (session && session.session_id);
    state.sessionToken = (session && session.session_token) || null;
    ready = true;
    save();
    setStatus(outbox.length ? UI.waiting : "");
    while (outbox.length) emitMessage(outbox.shift());
    if (pictureOutbox.length) setStatus(PICTURE.reading);
    while (pictureOutbox.length) postPicture(pictureOutbox.shift());
    // A new conversation opens with the assistant's own greeting.
    if (fresh && !state.greeted) {
      state.greeted = true;
      emitMessage("/greet");
    }
  });

  socket.on("bot_uttered", received);

  socket.on("disconnect", function () {
    ready = false;
    setStatus(UI.offline);
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (!text.trim()) { input.focus(); return; }
    input.value = "";
    send(text, text, true);
    input.focus();
  });

  // Enter sends, Shift+Enter starts a new line; never while an input method is composing.
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      if (form.requestSubmit) form.requestSubmit();
      else form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });

  pictureButton.addEventListener("click", function () { pictureInput.click(); });
  pictureInput.addEventListener("change", function () {
    var file = pictureInput.files && pictureInput.files[0];
    pictureInput.value = ""; // the same picture may be chosen again
    sendPicture(file);
  });

  // Ctrl+V (or a phone keyboard's paste) of a picture anywhere on the page; text pastes as usual.
  document.addEventListener("paste", function (event) {
    var files = (event.clipboardData && event.clipboardData.files) || [];
    for (var i = 0; i < files.length; i++) {
      if (files[i].type.indexOf("image/") === 0) {
        event.preventDefault();
        sendPicture(files[i]);
        return;
      }
    }
  });

  document.getElementById("restart").addEventListener("click", function () {
    if (!window.confirm(UI.restart)) return;
    try { window.localStorage.removeItem(STORE_KEY); } catch (e) { /* nothing to clear */ }
    window.location.reload();
  });
})();
