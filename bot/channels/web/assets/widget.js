/* fanzha embed loader. One tag on any page:
     <script src="https://HOST/widget.js" data-fanzha-server="https://HOST"></script>
   adds a floating button that opens the chat page (/chat of that server) in an iframe.
   It adds two elements and one key listener to the host page and changes nothing else. */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.fanzhaWidget) return;

  var LABEL = "反诈助手";
  var CLOSE = "关闭";
  var Z = "2147483000";

  function chatUrl() {
    // data-fanzha-server may carry a path (a server behind a proxy at /fanzha/).
    var given = script.getAttribute("data-fanzha-server");
    var base = given ? new URL(given.replace(/\/*$/, "/"), document.baseURI) : new URL("./", script.src);
    if (base.protocol !== "https:" && base.protocol !== "http:") throw new Error("not an http(s) address");
    return new URL("chat", base).href;
  }

  var url;
  try {
    url = chatUrl();
  } catch (e) {
    window.console && console.error("fanzha widget: data-fanzha-server is not a usable address:", e.message);
    return;
  }

  function style(element, rules) {
    Object.keys(rules).forEach(function (name) { element.style[name] = rules[name]; });
  }

  var button = document.createElement("button");
  var panel = null;
  var panelId = "fanzha-chat-" + Math.random().toString(36).slice(2, 10);

  button.type = "button";
  button.textContent = LABEL;
  button.setAttribute("data-fanzha", "open");
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", panelId);
  style(button, {
    position: "fixed", right: "16px", bottom: "16px", zIndex: Z,
    minHeight: "64px", minWidth: "64px", padding: "0 24px",
    font: "700 22px/1.2 sans-serif", color: "#ffffff", background: "#0b3d91",
    border: "3px solid #ffffff", borderRadius: "32px",
    boxShadow: "0 4px 16px rgba(0, 0, 0, 0.35)", cursor: "pointer"
  });

  function isOpen() {
    return !!panel && panel.style.display !== "none";
  }

  function open() {
    if (!panel) {
      panel = document.createElement("iframe");
      panel.id = panelId;
      panel.src = url;
      panel.title = LABEL;
      panel.referrerPolicy = "no-referrer";
      panel.setAttribute("data-fanzha", "chat");
      style(panel, {
        position: "fixed", right: "8px", bottom: "92px", zIndex: Z,
        width: "min(440px, calc(100vw - 16px))", height: "min(720px, calc(100vh - 104px))",
        border: "3px solid #0b3d91", borderRadius: "12px", background: "#ffffff",
        boxShadow: "0 6px 24px rgba(0, 0, 0, 0.35)"
      });
      document.body.appendChild(panel);
    }
    panel.style.display = "block";
    button.textContent = CLOSE;
    button.setAttribute("aria-expanded", "true");
    panel.focus();
  }

  function close() {
    panel.style.display = "none";
    button.textContent = LABEL;
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }

  button.addEventListener("click", function () {
    if (isOpen()) close(); else open();
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isOpen()) close();
  });

  function mount() {
    document.body.appendChild(button);
  }
  window.fanzhaWidget = { open: open, close: close };
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
